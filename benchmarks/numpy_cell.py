"""The no-dependency baseline: the same forecaster stepped in plain numpy.

Weights come from the ``.npz`` that ``benchmarks/models.py`` writes next to each model (the
PyTorch state dict as arrays). Gate order and equations are PyTorch's (LSTM i, f, g, o;
GRU r, z, n with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``). State uses the graph's
layout, (1, B, H) per tensor, so the same arrays feed ONNX Runtime and this cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function via tanh (one ufunc, no overflow warnings)."""
    return 0.5 * np.tanh(0.5 * x) + 0.5


class NumpyForecaster:
    """Stacked RNN / LSTM / GRU layers plus the dense head, one time step per call."""

    def __init__(self, npz: str | Path):
        with np.load(npz) as w:
            self.arch = str(w["arch"])
            self.layers = []
            for i in range(sum(1 for k in w.files if k.endswith(".weight_ih_l0"))):
                p = f"layers.{i}."
                # both biases, summed once
                self.layers.append(
                    (
                        np.ascontiguousarray(w[p + "weight_ih_l0"].T),  # (I, G*H)
                        np.ascontiguousarray(w[p + "weight_hh_l0"].T),  # (H, G*H)
                        w[p + "bias_ih_l0"],
                        w[p + "bias_hh_l0"],
                        w[p + "bias_ih_l0"] + w[p + "bias_hh_l0"],
                    )
                )
            # (H, K), (K,)
            self.head_w, self.head_b = (
                np.ascontiguousarray(w["head.weight"].T),
                w["head.bias"],
            )
        self.per_layer = 2 if self.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[np.ndarray]:
        return [
            np.zeros((1, batch, wh.shape[0]), np.float32)
            for _, wh, *_ in self.layers
            for _ in range(self.per_layer)
        ]

    def step(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """x (B, F) model units -> (y (B, K), new states)."""
        h, new = x, []
        k = self.per_layer
        for i, weights in enumerate(self.layers):
            state = [s[0] for s in states[i * k : (i + 1) * k]]  # each (B, H)
            h, out = getattr(self, f"_{self.arch}")(h, state, *weights)
            new += [s[None] for s in out]
        return h @ self.head_w + self.head_b, new

    def run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """x (B, T, F) -> (y (B, T, K), new states), T steps in a loop: the graph's contract."""
        ys = []
        for t in range(x.shape[1]):
            y, states = self.step(x[:, t], states)
            ys.append(y)
        return np.stack(ys, axis=1), states

    @staticmethod
    def _rnn(x, state, wx, wh, bx, bh, b):
        h = x @ wx
        h += state[0] @ wh
        h += b
        h = np.tanh(h, out=h)
        return h, [h]

    @staticmethod
    def _lstm(x, state, wx, wh, bx, bh, b):
        h, c = state
        g = x @ wx
        g += h @ wh
        g += b
        i, f, gg, o = np.split(g, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
        h = sigmoid(o) * np.tanh(c)
        return h, [h, c]

    @staticmethod
    def _gru(x, state, wx, wh, bx, bh, b):
        h = state[0]
        gx, gh = x @ wx + bx, h @ wh + bh
        H = h.shape[1]
        r = sigmoid(gx[:, :H] + gh[:, :H])
        z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gx[:, 2 * H :] + r * gh[:, 2 * H :])
        h = n + z * (h - n)
        return h, [h]
