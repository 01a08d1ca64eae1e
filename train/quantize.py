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
import dataclasses
import logging
import math
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgernn.errors import ExportError, UsageError
from edgernn.feeds.synth import COLUMNS as SENSOR_COLUMNS
from edgernn.feeds.synth import sensor_signal
from edgernn.signature import Signature
from edgernn.train.parity import (
    GraphNames,
    Outputs,
    Runner,
    ort_runner,
    reference_runner,
    run_stepwise,
    short_reason,
)

INT8, FP16 = "int8-dynamic", "fp16"
MODES = (INT8, FP16)
DEFAULT_TOLERANCE = 0.02  # max RMS forecast change, model units; why 0.02: "The tolerance" above
DEFAULT_STEPS = 2000  # length of the stateful comparison
SIDE_STEPS = 200  # length of the chunk-vs-steps and batch-coupling checks
RECURRENT = ("LSTM", "GRU", "RNN")
DENSE = ("MatMul", "Gemm")
INT8_OP_TYPES = ("LSTM", "MatMul")  # what quantize_dynamic is asked to convert
INT8_NODES = {
    "DynamicQuantizeLSTM": "LSTM",
    "MatMulInteger": "MatMul",
}  # quantized node -> source op
APPLIES_TO = {
    INT8: "LSTM layers (int8 weights, DynamicQuantizeLSTM, CPU provider only) and the dense head "
    "(MatMulInteger); GRU and RNN layers stay float32 (ONNX Runtime has no int8 GRU/RNN kernel), "
    "so for gru/rnn only the dense head is quantized",
    FP16: "LSTM, GRU and RNN layers (float16 weights and arithmetic); inputs, outputs, states and the "
    "dense head stay float32; meant for --provider cuda",
}
PROVIDER = {INT8: "cpu", FP16: "cuda"}
WEIGHT_TYPES = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
}  # initializer element types counted in "weights"


@dataclass(frozen=True)
class ReduceConfig:
    """How a verified float32 graph is reduced and how hard the result is checked."""

    mode: str  # INT8 ("int8-dynamic") or FP16 ("fp16")
    tolerance: float = DEFAULT_TOLERANCE  # max RMS forecast change vs float32, model units (fraction of target scale)
    steps: int = DEFAULT_STEPS  # length of the stateful comparison, batch 1, one step per call
    force: bool = False  # write even when over tolerance or unmeasured; the record says "forced"
    per_channel: bool = (
        True  # int8: one scale per gate row (measured 2.5x smaller change than per tensor)
    )
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


@dataclass
class Reduced:
    """A reduced graph, its record for ``signature.parity["quantization"]``, and the verdict."""

    graph: onnx.ModelProto
    record: dict
    expected: (
        Outputs | None
    )  # the runtime's own numbers on the check inputs (None: not its provider)
    check_x: np.ndarray  # (1, T, F) model units: inputs the written file is re-run on

    @property
    def within_tolerance(self) -> bool:
        rms = self.record["rms_change"]
        return rms is not None and rms <= self.record["tolerance"]

    def refusal(self, out: Path) -> ExportError | None:
        """The error to raise (nothing written) when the change is over tolerance and not forced."""
        if self.within_tolerance or self.record["forced"]:
            return None
        r, where = self.record, f"nothing was written to {str(out)!r}"
        if r["rms_change"] is None:
            text = (
                f"export refused: the {r['mode']} graph's accuracy could not be measured here "
                f"({r['not_measured']}); {where}; pass --force to write it unmeasured and check it on {r['provider']}"
            )
        else:
            text = (
                f"export refused: {r['mode']} changes the forecast by RMS {r['rms_change']:.2%} of the target "
                f"scale (max {r['max_abs_change']:.2%}) over {r['steps']} stateful steps, above --quant-tolerance "
                f"{r['tolerance']:g} ({r['tolerance']:.2%}); {where}; raise --quant-tolerance or pass --force"
            )
        error = ExportError(text)
        error.quantization = r  # for --json
        return error


# ---- the whole post-step -------------------------------------------------------------------
def reduce_graph(graph: onnx.ModelProto, signature: Signature, config: ReduceConfig) -> Reduced:
    """Pre-process, reduce and measure ``graph`` (the verified float32 graph of ``signature``)."""
    if config.mode == INT8 and signature.arch != "lstm" and not config.force:
        raise ExportError(
            f"--quantize int8 applies to LSTM layers only: a {signature.arch} model would get only its "
            "dense head quantized (no smaller, no faster); nothing was written; export it in float32, "
            "use --precision fp16 for CUDA, or pass --force to quantize the head anyway"
        )
    reduced = _reduce(graph, config)
    x_user, source = comparison_inputs(signature, config.steps, config.seed)
    x = signature.input_scaler.transform(x_user)[None]  # (1, T, F) model units
    record = {
        "mode": config.mode,
        "applies_to": APPLIES_TO[config.mode],
        "provider": PROVIDER[config.mode],
        **count_reduced(reduced),
        "steps": config.steps,
        "inputs": source,
        "tolerance": config.tolerance,
        "units": "model units: a fraction of each target's scale (its training std for standard scaling); "
        "per_target in the user's units",
        "float32_bytes": graph.ByteSize(),
        "bytes": reduced.ByteSize(),
    }
    record["note"] = coverage_note(signature.arch, record)
    measured, expected = measure(graph, reduced, signature, x, config)
    record.update(measured)
    result = Reduced(reduced, record, expected, x[:, :SIDE_STEPS])
    record["forced"] = bool(config.force and not result.within_tolerance)
    return result


def _reduce(graph: onnx.ModelProto, config: ReduceConfig) -> onnx.ModelProto:
    """Pre-process and reduce; a failure of ORT's tools is an ExportError (nothing written)."""
    try:
        prepared = prepare(graph)
        return (
            quantize_int8(prepared, config.per_channel)
            if config.mode == INT8
            else convert_fp16(prepared)
        )
    except ExportError:
        raise
    except Exception as e:  # ORT's quantization tools raise anything
        raise ExportError(
            f"export failed: {config.mode} reduction of the verified graph raised {short_reason(e)}; "
            "nothing was written; export without --quantize / --precision fp16"
        ) from e


def measure(
    graph: onnx.ModelProto,
    reduced: onnx.ModelProto,
    signature: Signature,
    x: np.ndarray,
    config: ReduceConfig,
) -> tuple[dict, Outputs | None]:
    """Float32 vs reduced over ``x`` step by step from zero state; and the runtime's expected numbers.

    The second value is the reduced graph's outputs over the first ``SIDE_STEPS`` steps when
    they were measured on the runtime's own provider (ORT CPU), else None.
    """
    names = graph_names(signature)
    backend, run, why = reduced_runner(reduced, names, config.mode)
    if run is None:
        return {
            "measured_with": None,
            "not_measured": why,
            "rms_change": None,
            "max_abs_change": None,
        }, None
    want = run_stepwise(ort_runner(graph.SerializeToString(), names), x, zero_states(signature, 1))
    got = run_stepwise(run, x, zero_states(signature, 1))
    found = {
        "measured_with": backend,
        **forecast_change(got[0], want[0], signature),
        **side_effects(run, x[:, :SIDE_STEPS], signature, config),
    }
    if not backend.startswith("onnxruntime cpu"):
        return found, None
    return found, run_stepwise(run, x[:, :SIDE_STEPS], zero_states(signature, 1))


def with_record(signature: Signature, record: dict) -> Signature:
    """``signature`` with ``parity["quantization"] = record``, exactly as the runtime reads it back."""
    parity = {**signature.parity, "quantization": record}
    return Signature.from_json(dataclasses.replace(signature, parity=parity).to_json())


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
        return "nothing was quantized: the graph has no op this mode converts; the file is the float32 model"
    if recurrent_left and not any(k in RECURRENT for k in reduced):
        ops = ", ".join(f"{k} x{v}" for k, v in recurrent_left.items())
        return (
            f"only the dense head was quantized; the recurrent layers ({ops}) stay float32 because ONNX Runtime "
            f"has no int8 {'/'.join(recurrent_left)} kernel, so the file is no smaller and no faster; "
            f"export {arch} without --quantize, or use --precision fp16 on CUDA"
        )
    if recurrent_left:
        return f"some recurrent layers stay float32 ({', '.join(recurrent_left)}): their weights are not constant"
    return "every recurrent layer was converted"


# ---- measuring -----------------------------------------------------------------------------
def graph_names(signature: Signature) -> GraphNames:
    return GraphNames(
        signature.input_name,
        signature.output_name,
        tuple(s.input for s in signature.states),
        tuple(s.output for s in signature.states),
    )


def zero_states(signature: Signature, batch: int) -> list[np.ndarray]:
    return [s.zeros(batch) for s in signature.states]


def reduced_runner(
    graph: onnx.ModelProto, names: GraphNames, mode: str
) -> tuple[str, Runner | None, str]:
    """Where the reduced graph's accuracy is measured here: (backend, runner or None, why not).

    int8 runs on ONNX Runtime's CPU provider, its real target. fp16 is measured with the
    reference evaluator, which computes in float16 like the CUDA kernels; ORT's CPU provider
    would only cast the float16 weights back to float32 (a smaller, misleading change). When
    the reference evaluator cannot run it, ORT CPU is the fallback, labelled as such.
    """
    if mode == INT8:
        return "onnxruntime cpu", ort_runner(graph.SerializeToString(), names), ""
    try:
        runner = reference_runner(graph, names)
        runner(*_tiny_case(graph, names))
        return "onnx.reference (float16 arithmetic)", runner, ""
    except Exception as e:  # an op it does not implement, ...
        reason = short_reason(e)
    try:
        runner = ort_runner(graph.SerializeToString(), names)
        runner(*_tiny_case(graph, names))
        return "onnxruntime cpu (float32 arithmetic on float16 weights)", runner, ""
    except Exception as e:
        return (
            "",
            None,
            f"needs CUDA: reference evaluator: {reason}; onnxruntime cpu: {short_reason(e)}",
        )


def _tiny_case(graph: onnx.ModelProto, names: GraphNames) -> tuple[np.ndarray, list[np.ndarray]]:
    """A one-step, batch-1 input from the graph's declared shapes (symbolic axes -> 1)."""
    dims = {
        v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim] for v in graph.graph.input
    }
    zeros = [np.zeros(dims[n], dtype=np.float32) for n in (names.input, *names.state_inputs)]
    return zeros[0], zeros[1:]


def comparison_inputs(signature: Signature, steps: int, seed: int) -> tuple[np.ndarray, str]:
    """(steps, F) inputs in the user's units, and where they came from.

    Models trained on ``synth:sensor`` get a fresh draw of the same signal (seed + 1 past the
    training seed); others get a smooth signal at the input scaler's level and spread:
    offset + scale * (three sines of periods 24, 96 and 500 steps, unit std, + 10% noise).
    """
    data = signature.provenance.get("data")
    features = signature.features
    if (
        isinstance(data, dict)
        and data.get("kind") == "synth"
        and data.get("name") == "sensor"
        and set(features) <= set(SENSOR_COLUMNS)
    ):
        draw = int(data.get("seed", 0)) + 1 + seed
        signal = sensor_signal(steps, seed=draw)
        return np.stack(
            [signal[f] for f in features], axis=1
        ), f"synth:sensor?n={steps}&seed={draw}"
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (3, len(features)))
    wave = sum(
        a * np.sin(2 * np.pi * t / p + phases[i])
        for i, (a, p) in enumerate(((0.5, 24), (1.0, 96), (0.3, 500)))
    )
    wave = wave / wave.std(axis=0) + 0.1 * rng.standard_normal(wave.shape)
    offset, scale = (
        np.asarray(v, dtype=np.float64)
        for v in (signature.input_scaler.offset, signature.input_scaler.scale)
    )
    source = "sines (periods 24, 96, 500) + 10% noise at the input scaler's offset and scale"
    return (offset + scale * wave).astype(np.float32), source


def forecast_change(got: np.ndarray, want: np.ndarray, signature: Signature) -> dict:
    """Max abs and RMS change over time of each target: model units (worst target) and user units."""
    diff = (got - want).reshape(-1, got.shape[-1]).astype(np.float64)  # (T, targets) model units
    rms, top = np.sqrt(np.mean(diff**2, axis=0)), np.max(np.abs(diff), axis=0)
    scale = np.abs(np.asarray(signature.target_scaler.scale, dtype=np.float64))
    per_target = {
        name: {"rms_change": float(r * s), "max_abs_change": float(m * s)}
        for name, r, m, s in zip(signature.targets, rms, top, scale)
    }
    return {
        "rms_change": float(rms.max()),
        "max_abs_change": float(top.max()),
        "per_target": per_target,
    }


def side_effects(run: Runner, x: np.ndarray, signature: Signature, config: ReduceConfig) -> dict:
    """How far a chunk, and a stream batched with another stream, drift from single steps (model units)."""
    steps = run_stepwise(run, x, zero_states(signature, 1))
    chunk = run(x, zero_states(signature, 1))
    other_user, _ = comparison_inputs(signature, x.shape[1], config.seed + 1)
    other = signature.input_scaler.transform(other_user)[None]
    batched = run_stepwise(run, np.concatenate([x, other]), zero_states(signature, 2))
    return {
        "chunk_vs_steps_change": _max_abs(chunk[0], steps[0]),
        "batch_coupling_change": _max_abs(batched[0][:1], steps[0]),
        "side_effect_steps": int(x.shape[1]),
    }


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    value = float(np.max(np.abs(a.astype(np.float64) - b)))
    return value if math.isfinite(value) else float("inf")


def check_loaded(
    loaded_run: Runner, reduced: Reduced, signature: Signature, tolerance: float = 1e-5
) -> None:
    """The written file, loaded by the runtime, gives the measured numbers (when measured on its provider)."""
    got = run_stepwise(loaded_run, reduced.check_x, zero_states(signature, 1))
    if not all(np.isfinite(a).all() for a in (got[0], *got[1])):
        raise ExportError(
            "export failed: edgernn.load() of the reduced graph gives non-finite outputs; nothing was written"
        )
    if reduced.expected is not None:
        error = max(
            _max_abs(got[0], reduced.expected[0]),
            *(_max_abs(g, w) for g, w in zip(got[1], reduced.expected[1])),
        )
        if not error <= tolerance:
            raise ExportError(
                f"export failed: edgernn.load() of the reduced graph is off by {error:.1e} from what "
                f"was measured (> {tolerance:.0e}); nothing was written"
            )
