"""The signature an exported graph carries, for every task: written once here.

A task's training-time fields (what its checkpoint stores as ``signature``: features,
targets, scalers, window, tokenizer, labels, provenance, ...) plus what only the export knows
(graph names, states, measured parity) make the ``Signature`` the runtime reads back. The
task says what its graph is (task, arch, layers, inputs, outputs); the fields say the rest.

>>> from edgernn.signature import TensorSpec
>>> fields = {"labels": ["a", "b"], "window": 8, "provenance": {"seed": 0}}
>>> sig = graph_signature(fields, task="classify", arch="gru", layers=(4,), states=(),
...                       inputs=(TensorSpec("x", ("batch", "time", 1)),),
...                       outputs=(TensorSpec("logits", ("batch", "time", 2)),), parity={})
>>> sig.labels, sig.window, sig.input_scaler.kind, sorted(sig.provenance)
(('a', 'b'), 8, 'none', ['export', 'seed'])
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import onnxruntime
import torch

import edgernn
from edgernn.signature import Scaler, Signature, StateSpec, TensorSpec, Tokenizer
from edgernn.train.export.parity import GraphNames

NO_SCALER = Scaler("none", (), ())


def graph_signature(
    fields: dict,
    *,
    task: str,
    arch: str,
    layers: Sequence[int],
    states: tuple[StateSpec, ...],
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    parity: dict,
    causal: bool = True,
    provenance: dict | None = None,
) -> Signature:
    """The signature of a graph exported from a model trained with ``fields``; ``provenance``
    is added to the fields' own (the export's versions last), exactly as the runtime will read
    it back."""
    tok = fields.get("tokenizer")
    signature = Signature(
        task=task,
        arch=arch,
        layers=tuple(layers),
        features=tuple(fields.get("features", ())),
        targets=tuple(fields.get("targets", ())),
        states=states,
        input_scaler=scaler(fields.get("input_scaler")),
        target_scaler=scaler(fields.get("target_scaler")),
        window=int(fields.get("window", 0)),
        causal=causal,
        inputs=inputs,
        outputs=outputs,
        anomaly_threshold=float(fields.get("anomaly_threshold", 4.0)),
        labels=tuple(fields.get("labels", ())),
        calendar=tuple(fields.get("calendar", ())),
        tokenizer=Tokenizer(tok["kind"], tuple(tok["vocab"]), tok["unk"]) if tok else None,
        parity=parity,
        provenance={**fields.get("provenance", {}), **(provenance or {}), "export": versions()},
    )
    return Signature.from_json(signature.to_json())


def scaler(value: Scaler | dict | None) -> Scaler:
    """A scaler from the fields (a Scaler or its dict); none when there is none."""
    if value is None:
        return NO_SCALER
    return value if isinstance(value, Scaler) else Scaler(**value)


def state_specs(names: GraphNames, shapes: Sequence[tuple]) -> tuple[StateSpec, ...]:
    """The graph's state pairs: (state_in.N, state_out.N, symbolic shape) in graph order."""
    return tuple(
        StateSpec(i, o, tuple(s))
        for i, o, s in zip(names.state_inputs, names.state_outputs, shapes)
    )


def versions() -> dict:
    """What exported the graph (``provenance["export"]``)."""
    return {
        "edgernn": edgernn.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
