"""The signature checked against its graph, before anything is allocated for it.

A model file carries two descriptions of the same tensors: the graph's own inputs and outputs,
and the ``edgernn.signature`` metadata the runtime allocates states and buffers from. A crafted
or damaged file can make them disagree; ``check_graph`` refuses it with a ``SignatureError``
naming the tensor, instead of a traceback (or 1.6 GB of zeros) later.

>>> spec = StateSpec("state_in.0", "state_out.0", (1, "batch", 1 << 25))
>>> check_state_shape(spec)
Traceback (most recent call last):
...
edgernn.errors.SignatureError: state 'state_in.0' declares 33554432 values ... of 16777216; ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import onnxruntime as ort

from edgernn.errors import SignatureError
from edgernn.signature import DTYPES, Axis, Signature, StateSpec, TensorSpec

MAX_STATE_ROW = 1 << 24  # most values one stream's state tensor may hold (64 MiB of float32)
_INDEXED = re.compile(r"state_(?:in|out)\.(\d+)")  # the exporter's state names


def check_state_shape(spec: StateSpec) -> None:
    """SignatureError unless ``spec.shape`` has one "batch" axis, positive sizes elsewhere and
    at most ``MAX_STATE_ROW`` values per stream."""
    shape = list(spec.shape)
    if shape.count("batch") != 1:
        raise SignatureError(
            f"state {spec.input!r} has shape {shape}, which needs exactly one 'batch' axis; "
            "re-export the model"
        )
    sizes: list[int] = []
    for a in shape:
        if a == "batch":
            continue
        if not isinstance(a, int) or isinstance(a, bool) or a <= 0:
            raise SignatureError(
                f"state {spec.input!r} has shape {shape}: size {a!r} is not a positive "
                "integer; re-export the model"
            )
        sizes.append(a)
    n = math.prod(sizes)
    if n > MAX_STATE_ROW:
        raise SignatureError(
            f"state {spec.input!r} declares {n} values per stream (shape {shape}), over the "
            f"bound of {MAX_STATE_ROW}; re-export the model"
        )


def check_graph(sig: Signature, session: ort.InferenceSession) -> None:
    """SignatureError unless ``sig`` describes ``session``'s graph: every graph input is fed,
    every named tensor exists with the declared rank and sizes, each state is fed back from an
    output of its own shape, and a forecaster's widths match its features and targets."""
    graph_in = {i.name: i for i in session.get_inputs()}
    graph_out = {o.name: o for o in session.get_outputs()}
    for spec in sig.states:
        check_state_shape(spec)
    fed = [t.name for t in sig.inputs] + [s.input for s in sig.states]
    read = [t.name for t in sig.outputs] + [s.output for s in sig.states]
    missing = [n for n in fed if n not in graph_in] + [n for n in read if n not in graph_out]
    if missing:
        raise SignatureError(
            f"its signature names tensors the graph lacks ({', '.join(missing)}; the graph has "
            f"{', '.join([*graph_in, *graph_out])}); re-export the model"
        )
    unfed = [n for n in graph_in if n not in fed]
    if unfed:
        raise SignatureError(
            f"graph input(s) {', '.join(unfed)} are not in its signature (it feeds "
            f"{', '.join(fed)}): a state is missing; re-export the model"
        )
    for t in (*sig.inputs, *sig.outputs):
        _check_tensor(t)
        node = graph_in.get(t.name) or graph_out[t.name]
        _same_shape(t.name, t.shape, node.shape)
    for s in sig.states:
        _same_shape(s.input, s.shape, graph_in[s.input].shape)
        _same_shape(s.output, s.shape, graph_out[s.output].shape)
        a, b = _INDEXED.fullmatch(s.input), _INDEXED.fullmatch(s.output)
        if a and b and a.group(1) != b.group(1):
            raise SignatureError(
                f"state {s.input!r} is fed back from {s.output!r}: the names are swapped; "
                "re-export the model"
            )
    if sig.task == "forecast":
        for field, scaler, cols in (
            ("input_scaler", sig.input_scaler, sig.features),
            ("target_scaler", sig.target_scaler, sig.targets),
        ):
            if scaler.offset and not len(scaler.offset) == len(scaler.scale) == len(cols):
                raise SignatureError(
                    f"its {field} has {len(scaler.offset)} offsets and {len(scaler.scale)} "
                    f"scales for {len(cols)} {'features' if cols is sig.features else 'targets'}; "
                    "re-export the model"
                )
        _width("features", len(sig.features), graph_in[sig.input_name].shape)
        _width("targets", len(sig.targets), graph_out[sig.output_name].shape)


def _check_tensor(t: TensorSpec) -> None:
    """A tensor's sizes are positive integers or axis names, and its dtype is one edgernn feeds."""
    for a in t.shape:
        if not isinstance(a, str) and (not isinstance(a, int) or isinstance(a, bool) or a <= 0):
            raise SignatureError(
                f"tensor {t.name!r} has shape {list(t.shape)}: size {a!r} is not a positive "
                "integer or an axis name; re-export the model"
            )
    if t.dtype not in DTYPES:
        raise SignatureError(
            f"tensor {t.name!r} has dtype {t.dtype!r}, not one of {', '.join(DTYPES)}; "
            "re-export the model"
        )


def _same_shape(name: str, declared: Sequence[Axis], graph: Sequence[Any]) -> None:
    """The signature's shape of tensor ``name`` agrees with the graph's (symbolic axes free)."""
    if len(declared) != len(graph) or any(
        isinstance(d, int) and isinstance(g, int) and d != g for d, g in zip(declared, graph)
    ):
        raise SignatureError(
            f"tensor {name!r} is {list(declared)} in its signature but {list(graph)} in the "
            "graph; re-export the model"
        )


def _width(field: str, n: int, graph: Sequence[Any]) -> None:
    """A forecaster's last axis holds one value per feature (input) or target (output)."""
    width = graph[-1] if graph else None
    if isinstance(width, int) and width != n:
        raise SignatureError(
            f"its signature has {n} {field} but the graph takes {width}; re-export the model"
        )
