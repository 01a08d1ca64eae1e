"""What each pooled stream keeps besides its recurrent state: one array per field, slot-indexed.

A ``Stream`` keeps its step count, last input and forecast, residual statistics and drift test
in attributes; a ``Pool`` keeps them here for every slot at once (the recurrent state itself is in
``Slabs``), with the slot on axis 0, plus when each stream last stepped. A tick updates them
with the arithmetic ``Stream`` uses, bit for bit: vectorised over the tick's rows
(``account``), or one slot at a time in Python floats through flat memoryviews
(``account_one``, for small ticks, where numpy's per-call overhead outweighs the arithmetic).

>>> extras = Extras(features=2, target_cols=[0], threshold=4.0, warmup=20, horizon=500)
>>> extras.resize(capacity=4, keep=0)
>>> extras.clear(0)
>>> extras.account_one(0, [20.5, 60.0], [20.7], now=0.0)
(1, [20.7], None, False, None)
>>> extras.stream_meta(0)["last_pred"] == [np.float32(20.7).item()]
True
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgernn.core.anomaly import ResidualStats
from edgernn.core.drift import (
    DETECTORS,
    DRIFT_THRESHOLD,
    STATE,
    PageHinkley,
    page_hinkley_step,
)
from edgernn.core.views import flat, float32_scratch

# the drift test's per-slot arrays: its count, then PageHinkley's state lists (drift.STATE)
DRIFT = ("drift_count", "drift_mean", "drift_up", "drift_up_min", "drift_down", "drift_down_max")
# the per-slot arrays, in the order they are saved (a pool saved before the drift test has
# none of DRIFT: zeros, a fresh test, are what it loads there)
FIELDS = ("n_steps", "has_pred", "last_row", "last_pred", "count", "mean", "var", *DRIFT, "seen")
# (step, forecast, anomaly score, anomaly, detector) of one slot's step, in Python values
SmallResult = tuple[int, Sequence[float], float | None, bool, str | None]


class Extras:
    """The per-slot arrays of a pool (see the module); ``resize`` allocates them.

    ``target_cols`` says where each target sits among the features (None: not an input, and
    then no residual is scored); ``threshold``, ``warmup`` and ``horizon`` are those of
    ``ResidualStats``, ``drift_threshold`` the drift test's lambda (``PageHinkley``)."""

    def __init__(
        self,
        features: int,
        target_cols: Sequence[int | None],
        threshold: float,
        warmup: int,
        horizon: int,
        drift_threshold: float = DRIFT_THRESHOLD,
    ):
        self.features, self.targets = features, len(target_cols)
        self.threshold, self.warmup, self.horizon = threshold, warmup, horizon
        # the drift test's parameters, as page_hinkley_step takes them
        self._drift = PageHinkley(self.targets, drift_threshold, clip=threshold).params
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
            "drift_count": np.zeros(capacity, np.int64),  # z values since the test's reset
            # (capacity, K) float64 each: PageHinkley's per-target sums
            **{name: np.zeros((capacity, K), np.float64) for name in DRIFT[1:]},
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
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised ``Stream._account``: score residuals, test for drift, update statistics,
        remember; returns (anomaly score (N,) float64, NaN while warming up; residual detector
        fired (N,) bool; steps (N,) int64; drift test fired (N,) bool). ``slots`` is a slice
        (views, no copies) when every slot stepped, in order."""
        sl = self.arrays
        score, anomaly = np.full(len(rows), np.nan), np.zeros(len(rows), bool)  # (N,) unscored
        drift = np.zeros(len(rows), bool)  # (N,)
        if self._scored:
            has = sl["has_pred"][slots]
            # (N, K) float32 difference, like Stream
            resid = rows[:, self._tcols] - sl["last_pred"][slots]
            count, mean, var = sl["count"][slots], sl["mean"][slots], sl["var"][slots]
            warm = has & (count >= self.warmup)
            delta = resid - mean  # (N, K) float64: the float32 residual, exactly, minus the mean
            signed = delta / np.sqrt(np.maximum(var, 1e-12))  # (N, K) z per target
            q = np.abs(signed)  # (N, K) |z|, the very bits of |delta| / std
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
            drift = self._drift_test(slots, warm, signed)
        sl["n_steps"][slots] += 1
        sl["last_row"][slots], sl["last_pred"][slots], sl["has_pred"][slots] = rows, preds, True
        sl["seen"][slots] = time.monotonic()
        return score, anomaly, sl["n_steps"][slots].copy(), drift

    def _drift_test(self, slots: np.ndarray | slice, warm: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Vectorised ``page_hinkley_step`` for the slots with a score (``warm`` (N,) bool) over
        their signed z (N, K); the others' drift state stays as it was. Returns fired (N,)."""
        lam, delta, alpha, min_samples, clip = self._drift
        sl = self.arrays
        n = sl["drift_count"][slots] + warm  # (N,) int64, this z's number since the reset
        x = np.clip(z, -clip, clip)  # (N, K)
        mean, up, up_min, down, down_max = (sl[name][slots] for name in DRIFT[1:])  # (N, K) each
        if warm.all():  # the usual tick: no row to leave as it was
            mean = mean + (x - mean) / n[:, None]
            d = x - mean  # (N, K)
            up = alpha * up + d - delta
            down = alpha * down + d + delta
        else:
            w = warm[:, None]  # (N, 1)
            mean = np.where(w, mean + (x - mean) / np.maximum(n, 1)[:, None], mean)
            d = x - mean
            up = np.where(w, alpha * up + d - delta, up)
            down = np.where(w, alpha * down + d + delta, down)
        up_min = np.minimum(up_min, up)  # a row left as it was keeps up_min <= up
        down_max = np.maximum(down_max, down)
        over = (up - up_min > lam) | (down_max - down > lam)  # (N, K)
        fired: np.ndarray = warm & over.any(axis=1) & (n >= min_samples)  # (N,)
        state = (mean, up, up_min, down, down_max)
        if fired.any():  # a test that fired starts over
            n[fired] = 0
            for arr in state:
                arr[fired] = 0.0
        sl["drift_count"][slots] = n
        for name, arr in zip(DRIFT[1:], state):
            sl[name][slots] = arr
        return fired

    def account_one(
        self, slot: int, row: Sequence[float], pred: Sequence[float], now: float
    ) -> SmallResult:
        """``Stream._account`` for one slot, through flat memoryviews of the per-slot arrays:
        the same arithmetic, the same bits, no numpy scalars."""
        n_steps, has_pred, last_row, last_pred, count, mean, var, *drift, seen = self._views
        F, K = len(row), len(pred)
        score, detector = None, None
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
            if score is not None:  # the drift test, straight on the per-slot memoryviews
                n = drift[0][slot] + 1
                dm, up, up_min, down, down_max = drift[1:]
                fired = page_hinkley_step(
                    stats.z, n, dm, up, up_min, down, down_max, at, self._drift
                )
                drift[0][slot] = 0 if fired else n
                if fired or score > self.threshold:
                    detector = DETECTORS[score > self.threshold, fired]
        for i in range(F):
            last_row[slot * F + i] = row[i]
        for k in range(K):
            last_pred[slot * K + k] = pred[k]
        step = n_steps[slot] = n_steps[slot] + 1
        has_pred[slot], seen[slot] = True, now
        return step, pred, score, detector is not None, detector

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
            "drift": {"count": int(sl["drift_count"][slot])}
            | {name: sl[f"drift_{name}"][slot].tolist() for name in STATE},
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
        d = meta.get("drift")  # older snapshots have none: the slot's test stays fresh (zeros)
        if d is not None:
            sl["drift_count"][slot] = d["count"]
            for name in STATE:
                sl[f"drift_{name}"][slot] = d[name]

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
