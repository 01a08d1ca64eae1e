"""What each pooled stream keeps besides its recurrent state: one array per field, slot-indexed.

A ``Stream`` keeps its step count, last input and forecast and residual statistics in
attributes; a ``Pool`` keeps them here for every slot at once (the recurrent state itself is in
``Slabs``), with the slot on axis 0, plus when each stream last stepped. A tick updates them
with the arithmetic ``Stream`` uses, bit for bit: vectorised over the tick's rows
(``account``), or one slot at a time in Python floats through flat memoryviews
(``account_one``, for small ticks, where numpy's per-call overhead outweighs the arithmetic).

>>> extras = Extras(features=2, target_cols=[0], threshold=4.0, warmup=20, horizon=500)
>>> extras.resize(capacity=4, keep=0)
>>> extras.clear(0)
>>> extras.account_one(0, [20.5, 60.0], [20.7], now=0.0)
(1, [20.7], None, False)
>>> extras.stream_meta(0)["last_pred"] == [np.float32(20.7).item()]
True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgernn.core.anomaly import ResidualStats
from edgernn.core.views import flat, float32_scratch

# the per-slot arrays, in the order they are saved
FIELDS = ("n_steps", "has_pred", "last_row", "last_pred", "count", "mean", "var", "seen")
# (step, forecast, anomaly score, anomaly) of one slot's step, in Python values
SmallResult = tuple[int, Sequence[float], float | None, bool]


class Extras:
    """The per-slot arrays of a pool (see the module); ``resize`` allocates them.

    ``target_cols`` says where each target sits among the features (None: not an input, and
    then no residual is scored); ``threshold``, ``warmup`` and ``horizon`` are those of
    ``ResidualStats``."""

    def __init__(
        self,
        features: int,
        target_cols: Sequence[int | None],
        threshold: float,
        warmup: int,
        horizon: int,
    ):
        self.features, self.targets = features, len(target_cols)
        self.threshold, self.warmup, self.horizon = threshold, warmup, horizon
        # residuals need every target among the inputs: else none is scored
        self._tcols = [c for c in target_cols if c is not None]
        self._scored = len(self._tcols) == self.targets
        self._stats = ResidualStats(self.targets, warmup, horizon, threshold)  # small-tick scratch
        self._residual = float32_scratch(self.targets)  # rounds a residual to float32
        self.arrays: dict[str, np.ndarray] = {}
        # flat memoryviews of the arrays, in FIELDS order (Any: ints, bools and floats)
        self._views: tuple[Any, ...] = ()

    def resize(self, capacity: int, keep: int) -> None:
        """New arrays of ``capacity`` slots, zeroed but for the first ``keep`` slots' values."""
        F, K = self.features, self.targets
        new = {
            "n_steps": np.zeros(capacity, np.int64),
            "has_pred": np.zeros(capacity, bool),
            "last_row": np.zeros((capacity, F), np.float32),
            "last_pred": np.zeros((capacity, K), np.float32),
            "count": np.zeros(capacity, np.int64),  # residuals absorbed
            "mean": np.zeros((capacity, K), np.float64),
            "var": np.zeros((capacity, K), np.float64),
            "seen": np.zeros(capacity, np.float64),  # monotonic time of the last step
        }
        if keep:
            for name, arr in new.items():
                arr[:keep] = self.arrays[name][:keep]
        self.arrays = new
        self._views = tuple(flat(new[name]) for name in FIELDS)  # for small ticks

    def clear(self, slot: int) -> None:
        """A fresh stream in ``slot``, seen now."""
        for name in FIELDS[:-1]:
            self.arrays[name][slot] = 0
        self.arrays["seen"][slot] = time.monotonic()

    def move(self, src: int, dst: int) -> None:
        for arr in self.arrays.values():
            arr[dst] = arr[src]

    # ---- a tick's bookkeeping ------------------------------------------------------------------
    def account(
        self, slots: np.ndarray | slice, rows: np.ndarray, preds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised ``Stream._account``: score residuals, update statistics, remember; returns
        (anomaly score (N,) float64, NaN while warming up; anomaly (N,) bool; steps (N,) int64).
        ``slots`` is a slice (views, no copies) when every slot stepped, in order."""
        sl = self.arrays
        score, anomaly = np.full(len(rows), np.nan), np.zeros(len(rows), bool)  # (N,) unscored
        if self._scored:
            has = sl["has_pred"][slots]
            # (N, K) float32 difference, like Stream
            resid = rows[:, self._tcols] - sl["last_pred"][slots]
            count, mean, var = sl["count"][slots], sl["mean"][slots], sl["var"][slots]
            warm = has & (count >= self.warmup)
            delta = resid - mean  # (N, K) float64: the float32 residual, exactly, minus the mean
            q = np.abs(delta) / np.sqrt(np.maximum(var, 1e-12))  # (N, K) |z| per target
            z = q[:, 0] if q.shape[1] == 1 else q.max(axis=1)  # (N,)
            anomaly = warm & (z > self.threshold)
            score = np.where(warm, z, np.nan)
            absorb = has & ~anomaly
            count += absorb  # in place when slots is a slice
            # alpha 0 leaves a stream's statistics exactly as they were (x + 0 * d == x)
            rate = 1.0 / np.minimum(np.maximum(count, 1), self.horizon)
            alpha = np.where(absorb, rate, 0.0)[:, None]
            if not isinstance(slots, slice):
                sl["count"][slots] = count
            sl["mean"][slots] = mean + alpha * delta
            sl["var"][slots] = (1 - alpha) * (var + alpha * delta * delta)
        sl["n_steps"][slots] += 1
        sl["last_row"][slots], sl["last_pred"][slots], sl["has_pred"][slots] = rows, preds, True
        sl["seen"][slots] = time.monotonic()
        return score, anomaly, sl["n_steps"][slots].copy()

    def account_one(
        self, slot: int, row: Sequence[float], pred: Sequence[float], now: float
    ) -> SmallResult:
        """``Stream._account`` for one slot, through flat memoryviews of the per-slot arrays:
        the same arithmetic, the same bits, no numpy scalars."""
        n_steps, has_pred, last_row, last_pred, count, mean, var, seen = self._views
        F, K = len(row), len(pred)
        score = None
        if has_pred[slot] and self._scored:
            residual, cols, stats, at = self._residual, self._tcols, self._stats, slot * K
            for k in range(K):
                # the float32 residual numpy gave
                residual[k] = row[cols[k]] - last_pred[at + k]
            stats.count, stats.mean, stats.var = (
                count[slot],
                mean[at : at + K].tolist(),
                var[at : at + K].tolist(),
            )
            score = stats.observe_floats(residual)
            count[slot] = stats.count
            for k in range(K):
                mean[at + k], var[at + k] = stats.mean[k], stats.var[k]
        for i in range(F):
            last_row[slot * F + i] = row[i]
        for k in range(K):
            last_pred[slot * K + k] = pred[k]
        step = n_steps[slot] = n_steps[slot] + 1
        has_pred[slot], seen[slot] = True, now
        return step, pred, score, score is not None and score > self.threshold

    # ---- snapshots -----------------------------------------------------------------------------
    def stream_meta(self, slot: int) -> dict[str, Any]:
        """A ``Stream`` snapshot's header fields for ``slot`` (but its ``kind``)."""
        sl = self.arrays
        has = bool(sl["has_pred"][slot])
        return {
            "n_steps": int(sl["n_steps"][slot]),
            "last_row": sl["last_row"][slot].tolist() if has else None,
            "last_pred": sl["last_pred"][slot].tolist() if has else None,
            "residuals": {
                "count": int(sl["count"][slot]),
                "mean": sl["mean"][slot].tolist(),
                "var": sl["var"][slot].tolist(),
            },
        }

    def load_stream_meta(self, slot: int, meta: dict[str, Any]) -> None:
        """``slot`` takes the fields of a ``Stream`` snapshot's header."""
        sl = self.arrays
        sl["n_steps"][slot] = meta["n_steps"]
        sl["has_pred"][slot] = meta["last_pred"] is not None
        if meta["last_pred"] is not None:
            sl["last_row"][slot], sl["last_pred"][slot] = meta["last_row"], meta["last_pred"]
        r = meta["residuals"]
        sl["count"][slot], sl["mean"][slot], sl["var"][slot] = r["count"], r["mean"], r["var"]

    def saved(self, n: int) -> dict[str, np.ndarray]:
        """The first ``n`` slots' arrays, as a pool's saved state holds them (not ``seen``)."""
        return {
            name: np.ascontiguousarray(arr[:n])
            for name, arr in self.arrays.items()
            if name != "seen"
        }

    def load_saved(self, arrays: dict[str, np.ndarray], n: int) -> None:
        """The first ``n`` slots take ``saved`` arrays; every one of them is seen now."""
        for name, arr in self.arrays.items():
            if name in arrays:
                arr[:n] = arrays[name]
        self.arrays["seen"][:n] = time.monotonic()
