"""The signature: the one contract that travels inside every exported ``.onnx``.

Export writes it as JSON under the ONNX metadata key ``edgernn.signature``; the runtime
reads it back with ``session.get_modelmeta().custom_metadata_map`` (no ``onnx`` import).
It says everything the runtime needs to run a graph statefully in the user's units.

>>> sig = Signature(
...     task="forecast", arch="lstm", layers=(8,), window=20,
...     features=("temp",), targets=("temp",),
...     states=(StateSpec("state_in.0", "state_out.0", (1, "batch", 8)),
...             StateSpec("state_in.1", "state_out.1", (1, "batch", 8))),
...     input_scaler=Scaler("standard", (20.0,), (2.0,)),
...     target_scaler=Scaler("standard", (20.0,), (2.0,)),
... )
>>> Signature.from_json(sig.to_json()) == sig
True
>>> sig.input_scaler.transform([[24.0]]).tolist()
[[2.0]]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.calendar import KINDS, column_names
from edgernn.errors import SignatureError
from edgernn.scaler import Scaler
from edgernn.tokenizer import Tokenizer

__all__ = [
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "TASKS",
    "TOLERANCES",
    "Reduction",
    "Scaler",
    "Seq2SeqInfo",
    "Signature",
    "StateSpec",
    "TensorSpec",
    "Tokenizer",
    "Tolerances",
]

METADATA_KEY = "edgernn.signature"
SCHEMA_VERSION = (
    2  # 2: typed runtime facts (tolerance, reduction, seq2seq, embed); 1 kept them in dicts
)
READABLE_SCHEMAS = (1, 2)  # a schema-1 model's facts are read from its parity/provenance dicts
TASKS = ("forecast", "classify", "generate", "seq2seq", "tag", "music")
ARCHS = ("rnn", "lstm", "gru")
DTYPES = {"float32": np.float32, "int64": np.int64}

Axis = int | str  # a fixed size, or a symbolic axis such as "batch" or "time"


@dataclass(frozen=True)
class Tolerances:
    """The numbers exported graphs are held to, in one place."""

    parity: float = 1e-5  # max abs error of a graph vs its PyTorch source, model units
    reference: float = 2e-5  # the same against ONNX's reference evaluator (token models)
    reduced: float = 0.02  # int8/fp16: RMS forecast change vs float32, share of the target's std


TOLERANCES = Tolerances()


@dataclass(frozen=True)
class Reduction:
    """A graph exported in reduced precision (``--quantize int8`` or ``--precision fp16``)."""

    mode: str  # "int8-dynamic" or "fp16"
    provider: str | None  # the provider it is meant for ("cpu" for int8, "cuda" for fp16)
    tolerance: float  # the RMS change vs float32 its export accepted (model units)


@dataclass(frozen=True)
class Seq2SeqInfo:
    """One of a seq2seq model's two graphs, and what decoding needs besides it.

    >>> Seq2SeqInfo("decoder", "model.encoder.onnx", {"bos": "^", "eos": "$"}).partner
    'model.encoder.onnx'
    """

    role: str  # "encoder" or "decoder": which of the two graphs this file is
    partner: str  # file name of the other graph, next to this one
    special: dict[str, str] = field(default_factory=dict)  # bos / eos / pad -> token
    max_source_len: int | None = None  # the longest source seen in training


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: its name and shape with symbolic axes."""

    name: str
    shape: tuple[Axis, ...]
    dtype: str = "float32"

    def step_shape(self, batch: int) -> tuple[int, ...]:
        """The concrete shape for one time step of ``batch`` streams."""
        return tuple(batch if a == "batch" else 1 if a == "time" else int(a) for a in self.shape)

    def zeros(self, batch: int) -> np.ndarray:
        """A one-step buffer of this tensor for ``batch`` streams."""
        return np.zeros(self.step_shape(batch), dtype=DTYPES[self.dtype])


@dataclass(frozen=True)
class StateSpec:
    """One recurrent state tensor: fed in as ``input``, read back as ``output``."""

    input: str  # graph input name, e.g. "state_in.0"
    output: str  # graph output name that carries the next value, e.g. "state_out.0"
    shape: tuple[Axis, ...]  # e.g. (1, "batch", 64) for an ONNX LSTM hidden state
    init: float = 0.0  # value of a fresh stream's state

    @property
    def batch_axis(self) -> int:
        """The axis along which streams are stacked."""
        return self.shape.index("batch")

    def zeros(self, batch: int) -> np.ndarray:
        """A fresh state for ``batch`` streams."""
        shape = tuple(batch if a == "batch" else int(a) for a in self.shape)
        return np.full(shape, self.init, dtype=np.float32)


@dataclass(frozen=True)
class Signature:
    """What an exported graph is and how to run it.

    The graph takes ``x`` (batch, time, features) in model units plus one input per state,
    and returns ``y`` (batch, time, targets): at each step, the forecast of the targets at
    the next step, in model units, plus one output per state.
    """

    task: str  # "forecast"
    arch: str  # "rnn" | "lstm" | "gru"
    layers: tuple[int, ...]  # hidden size of each recurrent layer, bottom to top
    features: tuple[str, ...]  # input column names, in graph order
    targets: tuple[str, ...]  # forecast column names, in graph order
    states: tuple[StateSpec, ...]  # recurrent state pairs, fed back between calls
    input_scaler: Scaler  # applied to features before the graph
    target_scaler: Scaler  # inverted on the graph's output
    window: int = 0  # training window length (context the model was fitted on)
    causal: bool = True  # steppable one step at a time; False needs a window of inputs
    inputs: tuple[TensorSpec, ...] = ()  # graph inputs besides the states
    outputs: tuple[TensorSpec, ...] = ()  # graph outputs besides the states
    anomaly_threshold: float = 4.0  # default z-score of a one-step residual that flags an anomaly
    labels: tuple[str, ...] = ()  # class names, in output order (classify)
    tokenizer: Tokenizer | None = None  # text models: how text becomes the input token ids
    # export record, for people: max_abs_error, tolerance, shapes, exporter, quantization report
    parity: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)  # data, metrics, versions, created
    schema: int = SCHEMA_VERSION
    # ---- runtime facts (schema 2); a schema-1 signature gets them from parity / provenance
    tolerance: float | None = None  # the parity tolerance the export met (model units)
    reduction: Reduction | None = None  # set for an int8 / fp16 graph
    seq2seq: Seq2SeqInfo | None = None  # set for either graph of a seq2seq model
    embed: int | None = None  # embedding width of a token model (its first layer's input)
    attention: bool = False  # pools its recurrent outputs with attention (state carries a softmax)
    # calendar kinds (edgernn.calendar) whose sin/cos columns are the last features: the runtime
    # computes them from each record's timestamp; () = none
    calendar: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _fill_typed_facts(self)
        _check_calendar(self)
        if not self.inputs:
            x = TensorSpec("x", ("batch", "time", len(self.features)))
            object.__setattr__(self, "inputs", (x,))
        if not self.outputs:
            y = TensorSpec("y", ("batch", "time", len(self.targets)))
            object.__setattr__(self, "outputs", (y,))

    # ---- serialisation -------------------------------------------------------------
    def to_json(self) -> str:
        raw = dataclasses.asdict(self)
        if not self.calendar:  # left out when empty: other models' JSON stays as it was
            del raw["calendar"]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Signature:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise SignatureError(
                f"the {METADATA_KEY} metadata is not valid JSON ({e}); re-export the model"
            ) from e
        if not isinstance(raw, dict):
            raise SignatureError(
                f"the {METADATA_KEY} metadata is not a JSON object; re-export the model"
            )
        schema = raw.get("schema")
        if schema not in READABLE_SCHEMAS:
            raise SignatureError(
                f"signature schema {schema!r} is not one this edgernn reads "
                f"({', '.join(map(str, READABLE_SCHEMAS))}); "
                "upgrade edgernn or re-export the model with this version"
            )
        _check_fields(raw)
        try:
            return _from_dict(raw)
        except KeyError as e:
            raise SignatureError(
                f"the {METADATA_KEY} metadata lacks the field {e.args[0]!r}; re-export the model"
            ) from e
        except (TypeError, ValueError) as e:
            raise SignatureError(
                f"the {METADATA_KEY} metadata is incomplete or malformed ({e}); re-export the model"
            ) from e

    # ---- derived facts ---------------------------------------------------------------
    @property
    def input_name(self) -> str:
        return self.inputs[0].name

    @property
    def output_name(self) -> str:
        return self.outputs[0].name

    def target_feature_index(self) -> list[int | None]:
        """For each target, its column in the features (None if it is not an input)."""
        return [self.features.index(t) if t in self.features else None for t in self.targets]


# what each field's JSON must be: "str", "int", "num", "bool", "dict", "list", "ints", "strs"
_FIELDS = {
    "task": "str",
    "arch": "str",
    "layers": "ints",
    "features": "strs",
    "targets": "strs",
    "states": "list",
    "input_scaler": "dict",
    "target_scaler": "dict",
    "window": "int",
    "causal": "bool",
    "inputs": "list",
    "outputs": "list",
    "anomaly_threshold": "num",
    "labels": "strs",
    "parity": "dict",
    "provenance": "dict",
    "tolerance": "num",
    "embed": "int",
    "attention": "bool",
    "calendar": "strs",
}
_STATE_FIELDS = {"input": "str", "output": "str", "shape": "list", "init": "num"}
_TENSOR_FIELDS = {"name": "str", "shape": "list", "dtype": "str"}
_SCALER_FIELDS = {"kind": "str", "offset": "nums", "scale": "nums"}


def _is(value: Any, kind: str) -> bool:
    """Does a JSON ``value`` have the ``kind`` of ``_FIELDS``?"""
    one = {
        "str": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "dict": lambda v: isinstance(v, dict),
        "list": lambda v: isinstance(v, list),
    }
    if kind in ("ints", "strs", "nums"):
        return isinstance(value, list) and all(one[kind[:-1]](v) for v in value)
    return one[kind](value)


def _check_fields(raw: dict[str, Any]) -> None:
    """SignatureError naming the first field whose JSON has the wrong type (null is "absent"
    for the optional ones), in the top level, the states, the tensors and the scalers.

    >>> _check_fields({"layers": [8, "4"]})
    Traceback (most recent call last):
    ...
    edgernn.errors.SignatureError: the edgernn.signature field 'layers' is [8, "4"], not a list ...
    """
    words = {"str": "text", "int": "an integer", "num": "a number", "bool": "true or false"}
    words |= {"dict": "an object", "list": "a list", "ints": "a list of integers"}
    words |= {"strs": "a list of text", "nums": "a list of numbers"}

    def check(obj: dict[str, Any], fields: dict[str, str], where: str) -> None:
        for name, kind in fields.items():
            v = obj.get(name)
            if v is not None and not _is(v, kind):
                raise SignatureError(
                    f"the {METADATA_KEY} field {where}{name!r} is {json.dumps(v)[:60]}, "
                    f"not {words[kind]}; re-export the model"
                )

    check(raw, _FIELDS, "")
    for group, fields in (("states", _STATE_FIELDS), ("inputs", _TENSOR_FIELDS)):
        for i, item in enumerate(raw.get(group) or ()):
            if not isinstance(item, dict):
                raise SignatureError(
                    f"the {METADATA_KEY} field '{group}' holds {json.dumps(item)[:60]}, not an "
                    "object; re-export the model"
                )
            check(item, fields, f"{group}[{i}].")
    for i, item in enumerate(raw.get("outputs") or ()):
        check(item if isinstance(item, dict) else {"name": item}, _TENSOR_FIELDS, f"outputs[{i}].")
    for name in ("input_scaler", "target_scaler"):
        check(raw.get(name) or {}, _SCALER_FIELDS, f"{name}.")


def _from_dict(raw: dict[str, Any]) -> Signature:
    def tup(v: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v)

    return Signature(
        task=raw["task"],
        arch=raw["arch"],
        layers=tup(raw["layers"]),
        features=tup(raw["features"]),
        targets=tup(raw["targets"]),
        states=tuple(
            StateSpec(s["input"], s["output"], tup(s["shape"]), float(s.get("init", 0.0)))
            for s in raw["states"]
        ),
        input_scaler=Scaler(
            raw["input_scaler"]["kind"],
            tup(raw["input_scaler"]["offset"]),
            tup(raw["input_scaler"]["scale"]),
        ),
        target_scaler=Scaler(
            raw["target_scaler"]["kind"],
            tup(raw["target_scaler"]["offset"]),
            tup(raw["target_scaler"]["scale"]),
        ),
        window=int(raw.get("window", 0)),
        causal=bool(raw.get("causal", True)),
        inputs=tuple(
            TensorSpec(t["name"], tup(t["shape"]), t.get("dtype", "float32"))
            for t in raw.get("inputs", ())
        ),
        outputs=tuple(
            TensorSpec(t["name"], tup(t["shape"]), t.get("dtype", "float32"))
            for t in raw.get("outputs", ())
        ),
        anomaly_threshold=float(raw.get("anomaly_threshold", 4.0)),
        labels=tup(raw.get("labels", ())),
        tokenizer=None
        if not raw.get("tokenizer")
        else Tokenizer(
            raw["tokenizer"]["kind"],
            tup(raw["tokenizer"]["vocab"]),
            raw["tokenizer"].get("unk", "<unk>"),
        ),
        parity=dict(raw.get("parity", {})),
        provenance=dict(raw.get("provenance", {})),
        schema=int(raw["schema"]),
        tolerance=None if raw.get("tolerance") is None else float(raw["tolerance"]),
        reduction=None if not raw.get("reduction") else Reduction(**raw["reduction"]),
        seq2seq=None if not raw.get("seq2seq") else Seq2SeqInfo(**raw["seq2seq"]),
        embed=None if raw.get("embed") is None else int(raw["embed"]),
        attention=bool(raw.get("attention", False)),
        calendar=tup(raw.get("calendar", ())),
    )


def _check_calendar(sig: Signature) -> None:
    """SignatureError unless every calendar kind is known here and its columns end the
    features."""
    if not sig.calendar:
        return
    unknown = [k for k in sig.calendar if k not in KINDS]
    if unknown:
        raise SignatureError(
            f"the model computes calendar feature(s) {', '.join(map(repr, unknown))}, which this "
            f"edgernn does not know ({', '.join(KINDS)}); upgrade edgernn"
        )
    names = column_names(sig.calendar)
    if sig.features[len(sig.features) - len(names) :] != names:
        raise SignatureError(
            f"calendar {', '.join(sig.calendar)} needs the last features to be "
            f"{', '.join(names)}, not {', '.join(sig.features)}; re-export the model"
        )


def _fill_typed_facts(sig: Signature) -> None:
    """Schema 1 kept the runtime facts in the parity / provenance dicts: read them from there
    when the typed fields are not given (old models, and writers that fill only the dicts)."""
    parity, prov = sig.parity, sig.provenance

    def put(name: str, value: Any) -> None:
        if getattr(sig, name) is None and value is not None:
            object.__setattr__(sig, name, value)

    put("tolerance", parity.get("tolerance"))
    q = parity.get("quantization")
    if q:
        put("reduction", Reduction(q["mode"], q.get("provider"), float(q["tolerance"])))
    role = prov.get("role")
    if role in ("encoder", "decoder"):
        other = "decoder" if role == "encoder" else "encoder"
        data = prov.get("data") or {}
        put(
            "seq2seq",
            Seq2SeqInfo(
                role, prov.get(other, ""), dict(prov.get("special", {})), data.get("max_source_len")
            ),
        )
    model = prov.get("model") or {}
    put("embed", model.get("embed") if sig.tokenizer is not None else None)
    if model.get("attention") and not sig.attention:
        object.__setattr__(sig, "attention", True)
