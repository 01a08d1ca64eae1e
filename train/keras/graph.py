"""A chain of Keras layers as one ONNX graph, built with ``onnx.helper`` (no torch, no Keras).

A causal model's graph takes ``x`` (batch, time, features) (or ``tokens`` (batch, time) after an
Embedding) plus ``state_in.N`` and returns its head at every step plus ``state_out.N``: ONNX
LSTM / GRU / RNN nodes with explicit initial states (h then c per LSTM layer, each
(1, batch, H)) and their final ``Y_h`` / ``Y_c`` as the next state, as edgernn's own export
has. Keras weights are reordered here: an LSTM's gates i, f, c, o become ONNX's i, o, f, c;
a GRU keeps z, r, h, and ``reset_after=True`` is ``linear_before_reset=1``. A model with a
Bidirectional layer is a window model: ``x`` (batch, W, features) in, ``y`` (batch, 1, targets)
out, no state.

>>> keras_columns = np.array([[0.0, 1.0, 2.0, 3.0]])  # one input; gates i, f, c, o; H = 1
>>> lstm_gates(keras_columns, 1).ravel().tolist()  # ONNX rows: i, o, f, c
[0.0, 3.0, 1.0, 2.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.signature import StateSpec, TensorSpec
from edgernn.train.keras.layers import Chain, Layer
from edgernn.train.keras.reference import state_count

OPSET = 17
OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


@dataclass
class Graph:
    """The graph under construction: nodes, weights and a fresh-name counter."""

    nodes: list[Any] = field(default_factory=list)  # onnx NodeProto, in order
    weights: list[Any] = field(default_factory=list)  # onnx TensorProto initializers
    count: int = 0  # names made so far

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value: np.ndarray, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.weights.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> list[str]:
        from onnx import helper

        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names


@dataclass(frozen=True)
class Built:
    """The graph and what the signature says about its inputs, outputs and states."""

    model: Any  # onnx ModelProto
    inputs: tuple[TensorSpec, ...]  # x or tokens
    outputs: tuple[TensorSpec, ...]  # y or logits
    states: tuple[StateSpec, ...]  # one per recurrent state tensor, in graph order


def lstm_gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Keras' (in, 4H) LSTM matrix, gates i, f, c, o, as ONNX's (4H, in), gates i, o, f, c."""
    blocks = matrix.T.reshape(4, units, -1)  # (gate, H, in)
    return blocks[[0, 3, 1, 2]].reshape(4 * units, -1)


def onnx_weights(
    kind: str, weights: tuple[np.ndarray, ...], layer: Layer
) -> tuple[np.ndarray, ...]:
    """One direction's W (G*H, in), R (G*H, H), B (2*G*H) from Keras' kernel, recurrent kernel,
    bias (a GRU with ``reset_after``: input and recurrent biases, ONNX's Wb and Rb).

    >>> k, r, b = np.ones((2, 3)), np.ones((1, 3)), np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> w, r, b = onnx_weights("gru", (k, r, b), None)
    >>> w.shape, r.shape, b.tolist()
    ((3, 2), (3, 1), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    """
    kernel, recurrent = weights[0], weights[1]
    units = recurrent.shape[0]
    gates = kernel.shape[1] // units
    bias = weights[2] if len(weights) > 2 else np.zeros(gates * units)
    if kind == "lstm":
        w, r = lstm_gates(kernel, units), lstm_gates(recurrent, units)
        b = np.concatenate([lstm_gates(bias[None, :], units)[:, 0], np.zeros(4 * units)])
        return w, r, b
    if kind == "gru" and bias.ndim == 2:  # reset_after: input bias, recurrent bias
        return kernel.T, recurrent.T, np.concatenate([bias[0], bias[1]])
    return kernel.T, recurrent.T, np.concatenate([bias, np.zeros_like(bias)])


def build(chain: Chain, *, logits: bool, output_name: str, window: int = 0) -> Built:
    """The ONNX graph of ``chain``; ``logits`` leaves out a final softmax (classifier and
    generator heads: the runtime applies it) and turns one sigmoid unit into two logits."""
    from onnx import TensorProto, helper

    g = Graph()
    causal = chain.causal
    time_axis: Any = "time" if causal else window
    if chain.tokens:
        inputs = (TensorSpec("tokens", ("batch", time_axis), "int64"),)
    else:
        inputs = (TensorSpec("x", ("batch", time_axis, chain.features)),)
    h, layout = inputs[0].name, "BT"  # BT (batch, time, .), TB (time, batch, .), B (batch, .)
    states: list[StateSpec] = []
    last = len(chain.layers) - 1
    for i, layer in enumerate(chain.layers):
        if layer.kind == "embedding":
            h = g.op("Gather", [g.const("embedding", layer.weights[0]), h])[0]  # (B, T, E)
        elif layer.recurrent:
            if layout == "BT":
                h, layout = g.op("Transpose", [h], perm=[1, 0, 2])[0], "TB"  # (T, B, I)
            h, layout = _recurrent(g, layer, h, states, causal)
        elif layer.kind == "dense":
            h = g.op("MatMul", [h, g.const("kernel", layer.weights[0])])[0]
            if len(layer.weights) > 1:
                h = g.op("Add", [h, g.const("bias", layer.weights[1])])[0]
            h = _activation(g, h, layer.activation, logits and i == last)
        elif layer.kind == "activation":
            h = _activation(g, h, layer.activation, logits and i == last)
        elif layer.kind == "batchnorm":
            h = _batchnorm(g, layer, h)
    last_layer = chain.layers[-1]
    if logits and last_layer.kind in ("dense", "activation") and last_layer.activation == "sigmoid":
        zeros = g.op("Sub", [h, h])[0]  # one sigmoid unit z: logits (0, z)
        h = g.op("Concat", [zeros, h], axis=-1)[0]
    if layout == "TB":
        h = g.op("Transpose", [h], perm=[1, 0, 2])[0]  # (B, T, O)
    if layout == "B":
        h = g.op("Unsqueeze", [h, g.const("axes", np.array([1]), np.int64)])[0]  # (B, 1, O)
    elif not causal:  # a window model's output after its last step
        h = g.op(
            "Slice",
            [
                h,
                *(
                    g.const(n, np.array([v]), np.int64)
                    for n, v in (("starts", -1), ("ends", 2**62), ("axis", 1))
                ),
            ],
        )[0]
    width = chain.outputs + (1 if logits and _sigmoid_head(chain) else 0)
    outputs = (TensorSpec(output_name, ("batch", time_axis if causal else 1, width)),)
    g.nodes.append(helper.make_node("Identity", [h], [output_name]))
    elem = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}

    def value(spec: TensorSpec) -> Any:
        return helper.make_tensor_value_info(spec.name, elem[spec.dtype], list(spec.shape))

    state_in = [
        helper.make_tensor_value_info(s.input, TensorProto.FLOAT, list(s.shape)) for s in states
    ]
    state_out = [
        helper.make_tensor_value_info(s.output, TensorProto.FLOAT, list(s.shape)) for s in states
    ]
    graph = helper.make_graph(
        g.nodes,
        "keras",
        [value(inputs[0]), *state_in],
        [value(outputs[0]), *state_out],
        initializer=g.weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgernn import keras"
    )
    model.ir_version = 8
    return Built(model, inputs, outputs, tuple(states))


def _sigmoid_head(chain: Chain) -> bool:
    last = chain.layers[-1]
    return last.kind in ("dense", "activation") and last.activation == "sigmoid"


def _recurrent(
    g: Graph, layer: Layer, x: str, states: list[StateSpec], causal: bool
) -> tuple[str, str]:
    """One recurrent layer on x (T, B, I): its output and its layout."""
    kind, units = layer.recurrent, layer.units
    bidirectional = layer.kind == "bidirectional"
    parts = [onnx_weights(kind, layer.weights, layer)]
    if bidirectional:
        parts.append(onnx_weights(kind, layer.backward, layer))
    w, r, b = (np.stack([p[k] for p in parts]) for k in range(3))  # (D, G*H, .)
    attrs: dict[str, Any] = {"hidden_size": units}
    if bidirectional:
        attrs["direction"] = "bidirectional"
    if kind == "gru":
        attrs["linear_before_reset"] = int(bool(layer.config.get("reset_after", True)))
    if kind == "rnn":
        attrs["activations"] = [RNN_ACTIVATIONS[layer.activation]] * len(parts)
    inputs = [x, g.const("W", w), g.const("R", r), g.const("B", b), ""]
    fed: list[StateSpec] = []
    if causal and not bidirectional:
        for _ in range(state_count(kind)):
            n = len(states)
            fed.append(StateSpec(f"state_in.{n}", f"state_out.{n}", (1, "batch", units)))
            states.append(fed[-1])
        inputs += [s.input for s in fed]
    y, y_h, *y_c = g.op(OPS[kind], inputs, outputs=3 if kind == "lstm" else 2, **attrs)
    for spec, out in zip(fed, [y_h, *y_c]):
        g.nodes.append(_identity(out, spec.output))
    sequences = causal or bool(layer.config.get("return_sequences"))
    if bidirectional and sequences:  # Y (T, 2, B, H) -> (T, B, 2H), forward then backward
        y = g.op("Transpose", [y], perm=[0, 2, 1, 3])[0]
        return g.op("Reshape", [y, g.const("shape", np.array([0, 0, -1]), np.int64)])[0], "TB"
    if bidirectional:  # Y_h (2, B, H) -> (B, 2H)
        y_h = g.op("Transpose", [y_h], perm=[1, 0, 2])[0]
        return g.op("Reshape", [y_h, g.const("shape", np.array([0, -1]), np.int64)])[0], "B"
    if sequences:  # Y (T, 1, B, H) -> (T, B, H)
        return g.op("Squeeze", [y, g.const("axes", np.array([1]), np.int64)])[0], "TB"
    return g.op("Squeeze", [y_h, g.const("axes", np.array([0]), np.int64)])[0], "B"  # (B, H)


def _identity(src: str, dst: str) -> Any:
    from onnx import helper

    return helper.make_node("Identity", [src], [dst])


def _activation(g: Graph, h: str, name: str, as_logits: bool) -> str:
    if as_logits and name in ("softmax", "sigmoid"):
        return h
    if name == "linear":
        return h
    if name in ("silu", "swish"):
        return g.op("Mul", [h, g.op("Sigmoid", [h])[0]])[0]
    op = {
        "relu": "Relu",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "elu": "Elu",
        "softplus": "Softplus",
    }
    if name == "softmax":
        return g.op("Softmax", [h], axis=-1)[0]
    return g.op(op[name], [h])[0]


def _batchnorm(g: Graph, layer: Layer, h: str) -> str:
    """Inference batch norm as its per-channel affine map: h * scale + shift."""
    w = list(layer.weights)
    gamma = w.pop(0) if layer.config.get("scale", True) else 1.0
    beta = w.pop(0) if layer.config.get("center", True) else 0.0
    mean, var = w
    scale = gamma / np.sqrt(var + float(layer.config.get("epsilon", 1e-3)))
    h = g.op("Mul", [h, g.const("bn_scale", scale)])[0]
    return g.op("Add", [h, g.const("bn_shift", beta - mean * scale)])[0]
