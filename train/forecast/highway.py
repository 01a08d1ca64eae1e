"""The linear highway: an autoregression over recent and seasonal lags, kept as streaming state.

As LSTNet (Lai et al. 2018) does, a forecast is a linear autoregression over the targets' own
lags plus the recurrent network's correction, trained jointly. A stream only ever has the
present, so the lags live in the graph's state: a ring of the last ``L = max(lags)`` target
values per stream (model units), and a ``seen`` flag. A fresh stream (``seen`` = 0) fills its
ring with its first value, so the first forecasts start from "no change" instead of from zeros.
Lag ``j`` is the value ``j - 1`` steps before the current one: lag 1 is the current value.

With ``delta`` the highway also hands the network the change of each target since the previous
step (instead of its level) and adds the current value back to the forecast: the model forecasts
the change, so a series that trends out of the training range stays in range for the network.

The whole module is plain slicing, concatenation and matrix products, so it exports to ONNX
as it is and runs one step or a chunk at a time with the same numbers:

>>> hw = Highway(n_features=2, target_cols=(0,), lags=(1, 2, 4))
>>> x = torch.randn(3, 7, 2)                                   # (B, T, F)
>>> ar, base, net_x, ring, seen = hw(x, *hw.initial_state(3))
>>> ar.shape, ring.shape, seen.flatten().tolist()
(torch.Size([3, 7, 1]), torch.Size([1, 3, 4]), [1.0, 1.0, 1.0])
>>> states, steps = hw.initial_state(3), []
>>> for t in range(7):
...     a, _, _, *states = hw(x[:, t : t + 1], *states)
...     steps.append(a)
>>> torch.allclose(torch.cat(steps, dim=1), ar, atol=1e-6)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class Highway(nn.Module):
    """Per target: ``sum_j w_j * lag_j + b`` over the lags, with the lags as ring-buffer state."""

    def __init__(
        self,
        n_features: int,
        target_cols: Sequence[int],
        lags: Sequence[int],
        delta: bool = False,
    ):
        super().__init__()
        if not lags or min(lags) < 1:
            raise ValueError(f"lags must be positive integers, got {tuple(lags)}")
        self.target_cols = tuple(int(c) for c in target_cols)  # each target's feature column
        self.lags = tuple(sorted({int(j) for j in lags}))  # 1 = the current value
        self.delta = bool(delta)
        self.length = max(self.lags)  # L: values kept per target
        k = len(self.target_cols)
        self.weight = nn.Parameter(torch.zeros(k, len(self.lags)))  # (K, n_lags)
        self.bias = nn.Parameter(torch.zeros(k))  # (K,)
        # (K, F): picks each target's column out of the features, and puts it back
        pick = torch.zeros(k, n_features)
        for i, c in enumerate(self.target_cols):
            pick[i, c] = 1.0
        self.register_buffer("pick", pick)

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """A fresh ring (1, B, L*K) and seen flag (1, B, 1), all zero."""
        k = len(self.target_cols)
        return [torch.zeros(1, batch, self.length * k), torch.zeros(1, batch, 1)]

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", self.length * len(self.target_cols)), (1, "batch", 1)]

    def forward(
        self, x: torch.Tensor, ring: torch.Tensor, seen: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """x (B, T, F) model units -> (ar (B, T, K), base (B, T, K), net_x (B, T, F), new ring,
        new seen). ``ar + base`` is the highway's forecast of the next step; ``net_x`` is what the
        network reads (the targets' changes instead of their levels with ``delta``)."""
        b, k, n = x.shape[0], len(self.target_cols), self.length
        y = x @ self.pick.t()  # (B, T, K) the targets' current values
        seen0 = seen.transpose(0, 1)  # (B, 1, 1)
        old = ring.transpose(0, 1).reshape(b, n, k)  # (B, L, K), oldest first
        old = old * seen0 + y[:, :1] * (1.0 - seen0)  # a fresh stream: its first value
        seq = torch.cat([old, y], dim=1)  # (B, L + T, K)
        # lag j at step t is seq[n + t + 1 - j]: a static slice per lag
        lagged = torch.stack([seq[:, n + 1 - j : (1 - j) or None] for j in self.lags], dim=3)
        ar = (lagged * self.weight).sum(dim=3) + self.bias  # (B, T, K)
        if self.delta:
            previous = seq[:, n - 1 : -1]  # (B, T, K) the value one step before
            base, net_x = y, x - previous @ self.pick  # changes in the target columns
        else:
            base, net_x = torch.zeros_like(y), x
        new_ring = seq[:, -n:].reshape(b, 1, n * k).transpose(0, 1)  # (1, B, L*K)
        return ar, base, net_x, new_ring, torch.ones_like(seen)

    def fit_least_squares(self, series: Sequence[np.ndarray]) -> None:
        """Set the weights to the least-squares autoregression over ``series`` (each (N, K),
        model units, e.g. every key's training rows): of the next value (of its change, with
        ``delta``) on the lags. Series shorter than L + 1 rows add nothing."""
        k = len(self.target_cols)
        weight, bias = np.zeros((k, len(self.lags))), np.zeros(k)
        for i in range(k):
            design, goal = [], []
            for s in series:
                a = np.asarray(s, dtype=np.float64)[:, i]  # (N,)
                if len(a) <= self.length:
                    continue
                rows = lag_matrix(a, self.lags)  # (N - L, n_lags): lags of a[L..N-1]
                nxt = a[self.length :]  # (N - L,) the value each row forecasts
                goal.append(nxt - a[self.length - 1 : -1] if self.delta else nxt)
                design.append(rows)
            if design:
                weight[i], bias[i] = least_squares(np.concatenate(design), np.concatenate(goal))
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(weight))
            self.bias.copy_(torch.from_numpy(bias))


def lag_matrix(a: np.ndarray, lags: Sequence[int]) -> np.ndarray:
    """(N,) -> (N - L, n_lags): row r holds lag j of position L - 1 + r, i.e. a[L - 1 + r + 1 - j],
    for forecasting a[L + r]; L = max(lags).

    >>> lag_matrix(np.arange(6.0), (1, 2)).tolist()
    [[1.0, 0.0], [2.0, 1.0], [3.0, 2.0], [4.0, 3.0]]
    """
    n = max(lags)
    return np.stack([a[n - j : len(a) - j] for j in lags], axis=1)


def least_squares(design: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of ``goal ~ design @ w + b`` (a whisper of ridge keeps
    collinear lags finite).

    >>> w, b = least_squares(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    >>> np.round(w, 4).tolist(), round(b, 4)
    ([2.0], 1.0)
    """
    a = np.concatenate([design, np.ones((len(design), 1))], axis=1)  # (N, n_lags + 1)
    gram = a.T @ a + 1e-8 * np.eye(a.shape[1])
    coef = np.linalg.solve(gram, a.T @ goal)
    return coef[:-1], float(coef[-1])
