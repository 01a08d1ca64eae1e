"""Where ONNX Runtime put each graph node, and whether a GPU session quietly runs some on the CPU.

ONNX Runtime assigns every node it has no GPU kernel for to the CPU provider without an
error: the model still runs, but each call copies data between host and device. That is the
"silent fallback" this module detects. Not every CPU node is one: ORT deliberately keeps
*shape arithmetic* on the CPU under CUDA (Shape -> Gather -> Concat feeding a Reshape or a
ConstantOfShape), because those tensors are a few int64s that CUDA kernels read from host
memory anyway. ORT's own rule for CUDA graphs says the same: CPU nodes are fine as long as
no Memcpy node is needed.

So the rule here, applied to what one profiled call really executed:

- a node on ``CPUExecutionProvider`` counts, unless it is shape arithmetic: ``Shape`` or
  ``Size`` (they read only a tensor's metadata), or a node that reads and writes no
  floating-point tensor (int64 / int32 / bool only: shape values and indices);
- every ``MemcpyToHost`` / ``MemcpyFromHost`` node counts: data crossing inside the graph.

An embedding ``Gather`` on float weights, an int8 ``DynamicQuantizeLSTM`` or a
``ConstantOfShape`` making a float state all count; ``Gather`` on a shape does not.

Two sources, both real ONNX Runtime output (no graph parsing here: the runtime never imports
onnx): ``assignments`` reads the partitioner's record
(``session.record_ep_graph_assignment_info``, onnxruntime >= 1.24) without running anything;
``profiled_run`` runs the session once with profiling on and reads its JSON trace, which
also names each node's tensor types and the Memcpy nodes the partitioner record lacks.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

CPU = "CPUExecutionProvider"
GPU_PROVIDERS = ("cuda", "tensorrt")  # edgernn provider names whose CPU nodes are a fallback
SHAPE_READERS = frozenset({"Shape", "Size"})  # read a tensor's metadata, never its data
COPIES = frozenset({"MemcpyToHost", "MemcpyFromHost"})


class CpuFallbackWarning(UserWarning):
    """A GPU session runs some of the model's compute on the CPU (see ``Model.cpu_fallback``)."""


@dataclass(frozen=True)
class NodeRun:
    """One executed graph node: where it ran and the element types it read and wrote."""

    name: str
    op_type: str
    provider: str  # ORT provider name, e.g. "CUDAExecutionProvider"
    dtypes: tuple[str, ...] | None = None  # e.g. ("float", "int64"); None when unknown

    def describe(self) -> str:
        return f"{self.op_type} ({self.name})"


def assigned_nodes(session: ort.InferenceSession) -> list[NodeRun]:
    """Every node as the graph partitioner assigned it (no run needed; types unknown).

    Needs the session created with ``session.record_ep_graph_assignment_info=1`` (edgernn's
    session options always set it); [] for a session without it.
    """
    try:
        subgraphs = session.get_provider_graph_assignment_info()
    except Exception:  # recording was off, or an onnxruntime without the API
        return []
    return [NodeRun(n.name, n.op_type, sg.ep_name) for sg in subgraphs for n in sg.get_nodes()]


def assignments(session: ort.InferenceSession) -> dict[str, dict[str, int]]:
    """{provider: {op_type: count}} from ``assigned_nodes``."""
    out: dict[str, Counter[str]] = {}
    for n in assigned_nodes(session):
        out.setdefault(n.provider, Counter())[n.op_type] += 1
    return {ep: dict(c) for ep, c in out.items()}


def profiled_run(
    session: ort.InferenceSession,
    feeds: Mapping[str, Any] | None,
    run_options: ort.RunOptions | None = None,
) -> list[NodeRun]:
    """Run ``session`` once on ``feeds`` and return what each node did; always ends profiling.

    The session must have been created with profiling on (``providers.session_options(...,
    profile=True)``). Profiling is switched off here whatever happens, and the trace file is
    deleted, so the session's later calls pay nothing for it. Returns [] when the run fails,
    when ``feeds`` is None, or when the session was not profiling.
    """
    if not session.get_session_options().enable_profiling:
        return []
    try:
        if feeds is not None:
            session.run(None, dict(feeds), run_options)
    except Exception:
        feeds = None  # e.g. a graph whose probe shapes we guessed wrong: no placement, no crash
    finally:
        path = session.end_profiling()  # "" when the session was not profiling
        # our flag only: the session copied its options
        session.get_session_options().enable_profiling = False
    if not path:
        return []
    try:
        return read_profile(path) if feeds is not None else []
    finally:
        try:
            os.remove(path)
        except OSError:
            pass


def read_profile(path: str | os.PathLike[str]) -> list[NodeRun]:
    """The node events of an ONNX Runtime profile (a Chrome trace JSON), in execution order."""
    with open(path, encoding="utf-8") as f:
        events = json.load(f)
    nodes = []
    for e in events:
        args = e.get("args") or {}
        if (
            e.get("cat") != "Node"
            or "provider" not in args
            or not str(e.get("name", "")).endswith("_kernel_time")
        ):
            continue
        # the element types it read and wrote: [{"float": [1, 8]}, ...] -> "float", ...
        types = [
            t
            for shapes in (args.get("input_type_shape"), args.get("output_type_shape"))
            if shapes
            for one in shapes
            for t in one
        ]
        nodes.append(
            NodeRun(
                e["name"][: -len("_kernel_time")],
                args.get("op_name", "?"),
                args["provider"],
                tuple(types) if "input_type_shape" in args else None,
            )
        )
    return nodes


def is_shape_arithmetic(node: NodeRun) -> bool:
    """Whether ORT may keep ``node`` on the CPU on purpose: it computes shapes, not data."""
    if node.op_type in SHAPE_READERS:
        return True
    if node.dtypes is None:
        return False  # unknown types: count it rather than excuse it
    return not any(t.startswith(("float", "double", "bfloat")) for t in node.dtypes)


def cpu_fallback(provider: str, nodes: Sequence[NodeRun]) -> list[NodeRun]:
    """The nodes that make a ``provider`` session quietly run part of the model on the CPU.

    Pure: ``provider`` is the edgernn provider the session runs on ("cuda", "tensorrt",
    "cpu"), ``nodes`` what one call executed. On the CPU provider nothing is a fallback.

    >>> nodes = [
    ...     NodeRun("lstm", "LSTM", "CUDAExecutionProvider", ("float",)),
    ...     NodeRun("shape", "Shape", CPU),
    ...     NodeRun("dims", "Concat", CPU, ("int64",)),
    ...     NodeRun("q", "DynamicQuantizeLSTM", CPU, ("float", "int8")),
    ... ]
    >>> [n.name for n in cpu_fallback("cuda", nodes)], cpu_fallback("cpu", nodes)
    (['q'], [])
    """
    if provider not in GPU_PROVIDERS:
        return []
    return [
        n
        for n in nodes
        if n.op_type in COPIES or (n.provider == CPU and not is_shape_arithmetic(n))
    ]


def _summary(fallback: Sequence[NodeRun]) -> tuple[str, int, int]:
    """("DynamicQuantizeLSTM x2, Gather", compute nodes, copies) of a fallback list."""
    ops = Counter(n.op_type for n in fallback if n.op_type not in COPIES)
    listed = ", ".join(f"{op} x{k}" if k > 1 else op for op, k in sorted(ops.items()))
    return listed, sum(ops.values()), sum(n.op_type in COPIES for n in fallback)


def fallback_message(provider: str, fallback: Sequence[NodeRun], total: int) -> str:
    """One line: how many nodes, which op types, what it costs and what to do."""
    listed, on_cpu, copies = _summary(fallback)
    what = [f"{on_cpu} of {total} graph nodes run on the CPU ({listed})"] if on_cpu else []
    what += (
        [f"{copies} host/device cop{'y' if copies == 1 else 'ies'} inside the graph"]
        if copies
        else []
    )
    return (
        f"provider {provider!r}: {' and '.join(what)}, so every call moves data between host "
        "and device; re-export without CPU-only ops (e.g. --quantize int8 is CPU-only) or use "
        "--provider cpu"
    )


def fallback_note(fallback: Sequence[NodeRun]) -> str:
    """A short note for summaries: "CPU fallback: DynamicQuantizeLSTM x2, 1 copy"."""
    listed, _, copies = _summary(fallback)
    parts = ([listed] if listed else []) + (
        [f"{copies} host/device cop{'y' if copies == 1 else 'ies'}"] if copies else []
    )
    return "CPU fallback: " + ", ".join(parts) if parts else ""


def note_fallback(
    provider: str, nodes: Sequence[NodeRun], stacklevel: int = 3
) -> tuple[list[str], str]:
    """Warn (``CpuFallbackWarning``) when ``nodes`` show a fallback; return (descriptions,
    short note)."""
    fallback = cpu_fallback(provider, nodes)
    if not fallback:
        return [], ""
    message = fallback_message(provider, fallback, sum(n.op_type not in COPIES for n in nodes))
    warnings.warn(message, CpuFallbackWarning, stacklevel=stacklevel)
    return [n.describe() for n in fallback], fallback_note(fallback)
