"""The layers edgernn imports from Keras, each a ``Layer`` with its Keras config and weights.

``parse_layer`` checks one Keras layer config and says in one line why a layer cannot be
imported (its name, class and the option at fault).

>>> cfg = {"name": "head", "units": 1, "activation": "linear", "use_bias": True}
>>> parse_layer("Dense", cfg).kind, weight_count("Dense", cfg)
('dense', 2)
>>> parse_layer("Conv1D", {"name": "c"})
Traceback (most recent call last):
...
edgernn.errors.ModelError: layer 'c' (Conv1D) is not supported; edgernn imports SimpleRNN, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.errors import ModelError

RECURRENT = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
# identities at inference time
NO_OPS = {
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
}
ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax", "elu", "softplus", "silu", "swish")
SUPPORTED = (
    "SimpleRNN, LSTM, GRU, Bidirectional, Dense, Activation, Embedding, BatchNormalization, "
    "Dropout (and other inference no-ops), in a Sequential or a Functional chain"
)


@dataclass(frozen=True)
class Layer:
    """One imported Keras layer."""

    kind: str  # "rnn" | "lstm" | "gru" | "bidirectional" | "dense" | "activation" | ...
    name: str  # the layer's name in the Keras model
    config: dict[str, Any]  # its Keras config (for a Bidirectional: the wrapped layer's)
    weights: tuple[np.ndarray, ...] = ()  # Keras order: kernel, recurrent kernel, bias, ...
    backward: tuple[np.ndarray, ...] = ()  # a Bidirectional's backward layer weights
    cell: str = ""  # a Bidirectional's wrapped kind ("rnn", "lstm", "gru")

    @property
    def recurrent(self) -> str:
        """The recurrent kind ("rnn", "lstm", "gru") or "" for a layer without state."""
        return self.cell or (self.kind if self.kind in ("rnn", "lstm", "gru") else "")

    @property
    def units(self) -> int:
        return int(self.config.get("units", 0))

    @property
    def activation(self) -> str:
        return activation_name(self.config.get("activation", "linear"), self.name)


@dataclass(frozen=True)
class Chain:
    """A Keras model as the chain of layers edgernn runs."""

    layers: tuple[Layer, ...]  # bottom to top, no-ops left out
    input_shape: tuple[int | None, ...]  # the model's batch shape, e.g. (None, None, 2)
    source: dict[str, Any] = field(default_factory=dict)  # file, format, keras version

    @property
    def tokens(self) -> bool:
        """Does the model read token ids (an Embedding first)?"""
        return bool(self.layers) and self.layers[0].kind == "embedding"

    @property
    def causal(self) -> bool:
        """Steppable one step at a time (no Bidirectional layer)."""
        return not any(layer.kind == "bidirectional" for layer in self.layers)

    @property
    def recurrent(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.recurrent)

    @property
    def features(self) -> int:
        """Input width (features per step); 1 for token ids."""
        return 1 if self.tokens else int(self.input_shape[-1] or 0)

    @property
    def outputs(self) -> int:
        """Width of the last layer's output."""
        for layer in reversed(self.layers):
            if layer.kind in ("dense", "lstm", "gru", "rnn"):
                return layer.units
            if layer.kind == "bidirectional":
                return 2 * layer.units
        raise ModelError("the Keras model has no Dense or recurrent layer; nothing to import")


def activation_name(value: Any, layer: str) -> str:
    """A Keras activation (a name, or a serialised function) as one of ``ACTIVATIONS``.

    >>> activation_name(None, "d"), activation_name({"config": {"name": "relu"}}, "d")
    ('linear', 'relu')
    """
    if isinstance(value, dict):
        value = value.get("config", {}).get("name", value.get("class_name"))
    name = "linear" if value in (None, "None") else str(value)
    if name not in ACTIVATIONS:
        raise ModelError(
            f"layer {layer!r} uses activation {name!r}, which edgernn cannot import; supported: "
            f"{', '.join(ACTIVATIONS)}"
        )
    return name


def weight_count(class_name: str, config: dict[str, Any]) -> int:
    """How many arrays a layer stores (the legacy .h5 format lists them flat)."""
    bias = 1 if config.get("use_bias", True) else 0
    if class_name in RECURRENT:
        return 2 + bias
    if class_name == "Dense":
        return 1 + bias
    if class_name == "Embedding":
        return 1
    if class_name == "BatchNormalization":
        return 2 + int(config.get("center", True)) + int(config.get("scale", True))
    if class_name == "Bidirectional":
        inner = config["layer"]
        return 2 * weight_count(inner["class_name"], inner["config"])
    return 0


def parse_layer(class_name: str, config: dict[str, Any]) -> Layer:
    """The layer's kind, with its config checked (weights come later)."""
    name = str(config.get("name", class_name))
    if class_name in RECURRENT:
        _check_recurrent(class_name, config, name)
        return Layer(RECURRENT[class_name], name, config)
    if class_name == "Bidirectional":
        inner = config.get("layer", {})
        if inner.get("class_name") not in RECURRENT:
            raise ModelError(
                f"layer {name!r} (Bidirectional) wraps {inner.get('class_name')!r}; edgernn "
                "imports a Bidirectional SimpleRNN, LSTM or GRU"
            )
        if config.get("merge_mode", "concat") != "concat":
            raise ModelError(
                f"layer {name!r} (Bidirectional) merges with {config.get('merge_mode')!r}; edgernn "
                "imports merge_mode='concat' (the default)"
            )
        _check_recurrent(inner["class_name"], inner["config"], name, wrapped=True)
        cell = RECURRENT[inner["class_name"]]
        return Layer("bidirectional", name, inner["config"], cell=cell)
    if class_name == "Dense":
        activation_name(config.get("activation"), name)
        return Layer("dense", name, config)
    if class_name == "Activation":
        activation_name(config.get("activation"), name)
        return Layer("activation", name, config)
    if class_name == "Embedding":
        if config.get("mask_zero"):
            raise ModelError(
                f"layer {name!r} (Embedding) has mask_zero=True; a stream has no padding to "
                "mask: rebuild the layer with mask_zero=False (the weights stay the same)"
            )
        return Layer("embedding", name, config)
    if class_name == "BatchNormalization":
        axis = config.get("axis", -1)
        if axis not in (-1, 2, [-1], [2]):
            raise ModelError(
                f"layer {name!r} (BatchNormalization) normalises axis {axis}; edgernn imports "
                "axis=-1 (the features)"
            )
        return Layer("batchnorm", name, config)
    if class_name in NO_OPS:
        return Layer("noop", name, config)
    raise ModelError(f"layer {name!r} ({class_name}) is not supported; edgernn imports {SUPPORTED}")


def _check_recurrent(
    class_name: str, config: dict[str, Any], name: str, wrapped: bool = False
) -> None:
    what = f"layer {name!r} ({class_name})"
    if config.get("return_state"):
        raise ModelError(f"{what} has return_state=True; edgernn carries the state itself: drop it")
    if config.get("go_backwards") and not wrapped:
        raise ModelError(
            f"{what} has go_backwards=True; a stream runs forwards: use Bidirectional instead"
        )
    act = activation_name(config.get("activation", "tanh"), name)
    if class_name != "SimpleRNN" and act != "tanh":
        raise ModelError(f"{what} uses activation {act!r}; edgernn imports {class_name} with tanh")
    if class_name == "SimpleRNN" and act not in ("tanh", "relu", "sigmoid"):
        raise ModelError(f"{what} uses activation {act!r}; edgernn imports tanh, relu or sigmoid")
    rec = activation_name(config.get("recurrent_activation", "sigmoid"), name)
    if class_name != "SimpleRNN" and rec != "sigmoid":
        raise ModelError(
            f"{what} uses recurrent_activation {rec!r}; edgernn imports 'sigmoid' (the default)"
        )
