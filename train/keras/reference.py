"""Keras' layers in numpy, with Keras' own formulas and weight layouts (gate order i, f, c, o
for LSTM; z, r, h for GRU with or without ``reset_after``): the reference an imported graph is
checked against before it is written. Written from Keras' equations, not from the graph, so a
mistake in the graph's gate reordering shows up as an error here.

>>> from edgernn.train.keras.layers import Chain, Layer
>>> dense = Layer("dense", "d", {"units": 1, "activation": "relu"},
...               (np.array([[2.0]]), np.array([-1.0])))
>>> y, states = run(Chain((dense,), (None, None, 1)), np.array([[[0.25], [1.0]]]), [])
>>> y.ravel().tolist(), states
([0.0, 1.0], [])
"""

from __future__ import annotations

import numpy as np

from edgernn.train.keras.layers import Chain, Layer


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def activate(x: np.ndarray, name: str) -> np.ndarray:
    """A Keras activation by name (last axis for softmax).

    >>> activate(np.array([0.0, np.log(3.0)]), "softmax").round(3).tolist()
    [0.25, 0.75]
    """
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name in ("silu", "swish"):
        return x * sigmoid(x)
    return x


def state_count(kind: str) -> int:
    return 2 if kind == "lstm" else 1


def run(
    chain: Chain, x: np.ndarray, states: list[np.ndarray], *, logits: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The model on ``x`` (B, T, F) floats or (B, T) token ids, from ``states`` (each
    (1, B, H), h then c for an LSTM; [] = zeros), in float64. Returns y (B, T, O) for a causal
    model (its head applied at every step), (B, 1, O) for a window model, and the new states.
    ``logits``: the last layer's softmax left out (what a classifier graph puts out)."""
    batch = x.shape[0]
    h = x
    out_states: list[np.ndarray] = []
    queue = list(states)
    last = len(chain.layers) - 1
    for i, layer in enumerate(chain.layers):
        if layer.kind == "embedding":
            h = layer.weights[0][np.asarray(h, dtype=np.int64)]  # (B, T, E)
        elif layer.kind == "bidirectional":
            h = _bidirectional(layer, h)
        elif layer.recurrent:
            n = state_count(layer.kind)
            given = (
                [queue.pop(0)[0] for _ in range(n)]
                if queue
                else [np.zeros((batch, layer.units)) for _ in range(n)]
            )
            h, new = _recurrent(layer, layer.kind, layer.weights, h, given)  # (B, T, H)
            out_states += [s[None] for s in new]
        elif layer.kind == "dense":
            h = h @ layer.weights[0] + (layer.weights[1] if len(layer.weights) > 1 else 0.0)
            if not (logits and i == last and layer.activation in ("softmax", "sigmoid")):
                h = activate(h, layer.activation)
        elif layer.kind == "activation":
            if not (logits and i == last):
                h = activate(h, layer.activation)
        elif layer.kind == "batchnorm":
            h = _batchnorm(layer, h)
    if logits and _sigmoid_head(chain):  # one sigmoid unit: the logits of (not, yes)
        h = np.concatenate([np.zeros_like(h), h], axis=-1)
    if h.ndim == 2:  # a window model's last recurrent layer returned its final output only
        h = h[:, None, :]
    elif not chain.causal:  # a window model's output is the one after its last step
        h = h[:, -1:]
    return h, out_states


def _sigmoid_head(chain: Chain) -> bool:
    last = chain.layers[-1]
    return last.kind in ("dense", "activation") and last.activation == "sigmoid"


def _batchnorm(layer: Layer, x: np.ndarray) -> np.ndarray:
    w = list(layer.weights)
    gamma = w.pop(0) if layer.config.get("scale", True) else 1.0
    beta = w.pop(0) if layer.config.get("center", True) else 0.0
    mean, var = w
    eps = float(layer.config.get("epsilon", 1e-3))
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _bidirectional(layer: Layer, x: np.ndarray) -> np.ndarray:
    batch = x.shape[0]
    n = state_count(layer.cell)
    zeros = [np.zeros((batch, layer.units)) for _ in range(n)]
    fwd, _ = _recurrent(layer, layer.cell, layer.weights, x, zeros)  # (B, T, H)
    bwd, _ = _recurrent(layer, layer.cell, layer.backward, x[:, ::-1], zeros)  # reversed time
    if layer.config.get("return_sequences"):
        return np.concatenate([fwd, bwd[:, ::-1]], axis=-1)  # (B, T, 2H)
    return np.concatenate([fwd[:, -1], bwd[:, -1]], axis=-1)  # (B, 2H)


def _recurrent(
    layer: Layer, kind: str, weights: tuple[np.ndarray, ...], x: np.ndarray, state: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One recurrent layer over x (B, T, I) from state [(B, H), ...]: outputs (B, T, H)."""
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else np.zeros(kernel.shape[1])
    units = recurrent.shape[0]
    h = state[0]
    c = state[1] if kind == "lstm" else None
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]  # (B, I)
        if kind == "rnn":
            h = activate(xt @ kernel + h @ recurrent + bias, layer.activation)
        elif kind == "lstm":
            z = xt @ kernel + h @ recurrent + bias  # (B, 4H): i, f, c, o
            i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            h = _gru_step(layer, kernel, recurrent, bias, xt, h, units)
        outs.append(h)
    new = [h, c] if kind == "lstm" else [h]
    ys = np.stack(outs, axis=1)  # (B, T, H)
    return ys, [s for s in new if s is not None]


def _gru_step(
    layer: Layer,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    xt: np.ndarray,
    h: np.ndarray,
    units: int,
) -> np.ndarray:
    """Keras GRU: gates z, r, h; ``reset_after`` applies the reset to h @ U (+ its bias)."""
    u = units
    if layer.config.get("reset_after", True):
        b_in, b_rec = (bias[0], bias[1]) if bias.ndim == 2 else (bias, np.zeros_like(bias))
        xs = xt @ kernel + b_in  # (B, 3H)
        hs = h @ recurrent + b_rec  # (B, 3H)
        z = sigmoid(xs[:, :u] + hs[:, :u])
        r = sigmoid(xs[:, u : 2 * u] + hs[:, u : 2 * u])
        cand = np.tanh(xs[:, 2 * u :] + r * hs[:, 2 * u :])
    else:
        xs = xt @ kernel + bias  # (B, 3H)
        z = sigmoid(xs[:, :u] + h @ recurrent[:, :u])
        r = sigmoid(xs[:, u : 2 * u] + h @ recurrent[:, u : 2 * u])
        cand = np.tanh(xs[:, 2 * u :] + (r * h) @ recurrent[:, 2 * u :])
    return z * h + (1.0 - z) * cand
