"""Smaller graphs after export: dynamic int8 for the CPU provider, float16 for CUDA.

Both start from the float32 graph that already passed parity against PyTorch; neither is
checked against PyTorch again. Instead the reduced graph and the float32 graph are run side
by side over a long stateful run (``steps`` steps at batch 1, one step per call, the state
fed back, as a live stream runs) on realistic inputs, and the change of the forecast is
recorded in ``signature.parity["quantization"]``. Over ``tolerance`` the export is refused
(``ExportError``, nothing written) unless forced.

What each mode applies to (measured with onnxruntime 1.31):

- ``int8`` (``"int8-dynamic"``): ONNX Runtime's dynamic quantization. LSTM layers become
  ``DynamicQuantizeLSTM`` (a com.microsoft op with a CPU kernel only) with int8 weights,
  one scale per gate row; the dense head becomes ``MatMulInteger``. GRU and RNN layers have
  no int8 kernel and stay float32: for those architectures only the dense head is
  quantized, so the file is not smaller and the record says so. Activations are quantized
  per call over the whole (batch, time) tensor, so a chunk, or a stream batched with other
  streams, differs from single steps by about the quantization noise (recorded too).
- ``fp16``: the recurrent layers' weights and arithmetic in float16 (Cast nodes around each
  LSTM/GRU/RNN node); graph inputs, outputs, states and the dense head stay float32, so the
  runtime feeds and reads float32 as always. Meant for ``--provider cuda``. Converting the
  dense head too made onnxruntime 1.31's CPU session crash (segfault) at load time on a
  float16 Transpose -> MatMul, which is why it stays float32. On the CPU provider the graph
  runs, computed in float32 on float16-rounded weights, and is slower than float32.

The graph is pre-processed first (``quant_pre_process``: constant folding and shape
inference) so weights that an exporter left as ``Constant`` nodes or computed from
constants become initializers; ``quantize_dynamic`` silently skips weights that are not.
The result is counted, not assumed: ``quantized_ops`` / ``float32_ops`` / ``weights``.

The tolerance (``DEFAULT_TOLERANCE``): RMS change <= 0.02 of each target's scale, i.e. 2% of
its training std for standard scaling (0.02 in model units). A change that small, added to
a model's own error independently of it, grows an RMSE of 0.15 std (the shipped sensor
model's test error, 0.45 degrees) by under 1%, and it leaves five times the change measured
for int8 on that model (0.004 std with per-channel scales; about twice that per tensor) and
twenty times fp16's (under 0.001 std). RMS is gated rather than max because the max of a long run is
set by one rare input; the max is recorded as well.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgernn.errors import ExportError, UsageError
from edgernn.signature import TOLERANCES
from edgernn.train.export.parity import short_reason

INT8, FP16 = "int8-dynamic", "fp16"
MODES = (INT8, FP16)
# max RMS forecast change, model units; why 0.02: "The tolerance" above
DEFAULT_TOLERANCE = TOLERANCES.reduced
DEFAULT_STEPS = 2000  # length of the stateful comparison
RECURRENT = ("LSTM", "GRU", "RNN")
DENSE = ("MatMul", "Gemm")
INT8_OP_TYPES = ("LSTM", "MatMul")  # what quantize_dynamic is asked to convert
# quantized node -> source op
INT8_NODES = {
    "DynamicQuantizeLSTM": "LSTM",
    "MatMulInteger": "MatMul",
}
APPLIES_TO = {
    INT8: "LSTM layers (int8 weights, DynamicQuantizeLSTM, CPU provider only) and the dense head "
    "(MatMulInteger); GRU and RNN layers stay float32 (ONNX Runtime has no int8 GRU/RNN kernel), "
    "so for gru/rnn only the dense head is quantized",
    FP16: "LSTM, GRU and RNN layers (float16 weights and arithmetic); inputs, outputs, states "
    "and the dense head stay float32; meant for --provider cuda",
}
PROVIDER = {INT8: "cpu", FP16: "cuda"}
# initializer element types counted in "weights"
WEIGHT_TYPES = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
}


@dataclass(frozen=True)
class ReduceConfig:
    """How a verified float32 graph is reduced and how hard the result is checked."""

    mode: str  # INT8 ("int8-dynamic") or FP16 ("fp16")
    # max RMS forecast change vs float32, model units (fraction of target scale)
    tolerance: float = DEFAULT_TOLERANCE
    steps: int = DEFAULT_STEPS  # length of the stateful comparison, batch 1, one step per call
    force: bool = False  # write even when over tolerance or unmeasured; the record says "forced"
    # int8: one scale per gate row (measured 2.5x smaller change than per tensor)
    per_channel: bool = True
    seed: int = 0  # seed of the comparison inputs

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(
                f"unknown reduced precision {self.mode!r}; choose one of {', '.join(MODES)}"
            )
        if not self.tolerance >= 0:
            raise UsageError(f"--quant-tolerance must be >= 0, got {self.tolerance}")
        if self.steps < 2:
            raise UsageError(f"quant_steps must be >= 2, got {self.steps}")


# ---- pre-processing and reducing -----------------------------------------------------------
def prepare(graph: onnx.ModelProto) -> onnx.ModelProto:
    """``quant_pre_process`` (ORT constant folding + shape inference): weights become initializers.

    Symbolic shape inference fails on some graphs; then it runs without it.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet_root_logger(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prepared.onnx"
        try:
            quant_pre_process(_copy(graph), path)
        except Exception:  # symbolic shape inference cannot follow every graph
            quant_pre_process(_copy(graph), path, skip_symbolic_shape=True)
        return onnx.load(str(path))


def quantize_int8(graph: onnx.ModelProto, per_channel: bool = True) -> onnx.ModelProto:
    """ORT dynamic quantization of LSTM and MatMul weights to int8 (activations per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger(), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "int8.onnx"
        quantize_dynamic(
            _copy(graph),
            path,
            op_types_to_quantize=list(INT8_OP_TYPES),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
        )
        return onnx.load(str(path))


def convert_fp16(graph: onnx.ModelProto) -> onnx.ModelProto:
    """Recurrent nodes in float16, everything else (I/O, states, dense head) float32.

    Float initializers feeding a recurrent node become float16; every other float input
    (x, initial states) gets a Cast to float16 and every output a Cast back to float32
    under its original name. Raises ``ExportError`` when the result fails onnx.checker.
    """
    graph = _copy(graph)
    g = graph.graph
    inits = {t.name: t for t in g.initializer}
    users = Counter(name for n in g.node for name in n.input)
    nodes: list[onnx.NodeProto] = []
    for node in g.node:
        if node.op_type in RECURRENT:
            nodes += _to_fp16(node, inits, users, g)
        else:
            nodes.append(node)
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]  # stale float32 types of renamed tensors; ORT infers them again
    try:
        onnx.checker.check_model(graph, full_check=True)
    except Exception as e:  # ValidationError, InferenceError
        raise ExportError(
            f"export failed: the float16 graph does not pass onnx.checker ({short_reason(e)}); "
            "export without --precision fp16"
        ) from e
    return graph


def _to_fp16(
    node: onnx.NodeProto, inits: dict, users: Counter, g: onnx.GraphProto
) -> list[onnx.NodeProto]:
    """Casts in, ``node`` on float16, casts out; its float initializers converted in place."""
    label = node.name or node.output[0]
    before, after = [], []
    for k, name in enumerate(node.input):
        if not name or k == 4:  # absent, or sequence_lens (int32)
            continue
        t = inits.get(name)
        if t is not None and t.data_type == TensorProto.FLOAT:
            half = numpy_helper.from_array(
                numpy_helper.to_array(t).astype(np.float16), f"{name}.fp16"
            )
            if users[name] == 1:
                g.initializer.remove(t)
            g.initializer.append(half)
            node.input[k] = half.name
        elif t is None:
            before.append(
                helper.make_node(
                    "Cast", [name], [f"{name}.fp16"], f"{label}/to_fp16_{k}", to=TensorProto.FLOAT16
                )
            )
            node.input[k] = f"{name}.fp16"
    for k, name in enumerate(node.output):
        if name:
            node.output[k] = f"{name}.fp16"
            after.append(
                helper.make_node(
                    "Cast", [f"{name}.fp16"], [name], f"{label}/to_fp32_{k}", to=TensorProto.FLOAT
                )
            )
    return [*before, node, *after]


def _copy(graph: onnx.ModelProto) -> onnx.ModelProto:
    return onnx.ModelProto.FromString(graph.SerializeToString())


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ORT's quantization tools warn through the root logger (and would install a handler on it)."""
    root = logging.getLogger()
    null, level = logging.NullHandler(), root.level
    root.addHandler(null)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(null)
        root.setLevel(level)


# ---- what was reduced ----------------------------------------------------------------------
def count_reduced(graph: onnx.ModelProto) -> dict:
    """Counted from the result: ops whose weights were reduced, ops left float32, and the
    elements of every float / int8 initializer by type (scales and zero points included)."""
    g = graph.graph
    inits = {t.name: t for t in g.initializer}
    reduced: Counter = Counter()
    left: Counter = Counter()
    for node in g.node:
        if node.op_type in INT8_NODES:
            reduced[INT8_NODES[node.op_type]] += 1
        elif node.op_type in RECURRENT and _has_fp16_weights(node, inits):
            reduced[node.op_type] += 1
        elif node.op_type in (*RECURRENT, *DENSE):
            left[node.op_type] += 1
    weights: Counter = Counter()
    for t in g.initializer:
        if t.data_type in WEIGHT_TYPES:
            weights[WEIGHT_TYPES[t.data_type]] += int(np.prod(t.dims, dtype=np.int64))
    return {"quantized_ops": dict(reduced), "float32_ops": dict(left), "weights": dict(weights)}


def _has_fp16_weights(node: onnx.NodeProto, inits: dict) -> bool:
    return any(inits[n].data_type == TensorProto.FLOAT16 for n in node.input[1:3] if n in inits)


def coverage_note(arch: str, record: dict) -> str:
    """One honest line on what was and was not reduced."""
    recurrent_left = {k: v for k, v in record["float32_ops"].items() if k in RECURRENT}
    reduced = record["quantized_ops"]
    if not reduced:
        return (
            "nothing was quantized: the graph has no op this mode converts; "
            "the file is the float32 model"
        )
    if recurrent_left and not any(k in RECURRENT for k in reduced):
        ops = ", ".join(f"{k} x{v}" for k, v in recurrent_left.items())
        return (
            f"only the dense head was quantized; the recurrent layers ({ops}) stay float32 because "
            "ONNX Runtime "
            f"has no int8 {'/'.join(recurrent_left)} kernel, so the file is no smaller and no "
            "faster; "
            f"export {arch} without --quantize, or use --precision fp16 on CUDA"
        )
    if recurrent_left:
        return (
            f"some recurrent layers stay float32 ({', '.join(recurrent_left)}): "
            "their weights are not constant"
        )
    return "every recurrent layer was converted"
