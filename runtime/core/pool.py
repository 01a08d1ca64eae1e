"""Many keyed streams over one model: state in slot-indexed slabs, one graph call per tick.

Each key owns a slot. Every state tensor lives in one slab whose batch axis is the slot, and
so do the per-stream extras (step count, last input and forecast, anomaly statistics, drift
test). Active
slots are kept dense (0..n-1; a removed slot is refilled from the last one), so a tick is one
graph call over the ready slots' state, then the anomaly bookkeeping. Three kinds of tick:

- **Dense ticks** (every slot ready, in slot order: the common case at scale) read the live
  slabs and write the spare ones through a cached IOBinding, then the two swap; nothing is
  gathered or copied. On a device (``model.state_device``: "cuda"; "cpu" runs the same code
  path on the CPU) the slabs are OrtValues there, so between dense ticks the state never
  comes back to the host (see ``Slabs``).
- **Small ticks** (at most ``SMALL_TICK`` keys, e.g. the one key of an unkeyed stream) do the
  scaling and the bookkeeping in Python numbers, like ``Stream.step``: numpy's per-call
  overhead costs more than the arithmetic on a few rows. When they are not dense, the ready
  slots' state is copied into small buffers bound once per tick size.
- **Other ticks** are vectorised: gather the ready slots' state with ``np.take``, one
  ``Model.run``, scatter it back, numpy statistics over the rows.

Results are bit-for-bit those of separate ``Stream`` objects (tests/core/test_pool.py).

>>> import edgernn, numpy as np
>>> pool = edgernn.load(provider="cpu").pool()
>>> out = pool.step_batch(["a", "b"], np.array([[21.0, 50.0], [19.0, 60.0]]))
>>> out.forecast.shape, out.step.tolist(), len(pool)
((2, 1), [1, 1], 2)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Hashable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.core.drift import DETECTORS, DRIFT_THRESHOLD
from edgernn.core.extras import Extras, SmallResult
from edgernn.core.pool_snapshots import PoolSnapshots
from edgernn.core.protocols import LoadedModel
from edgernn.core.rows import NOT_FINITE, row_lists
from edgernn.core.slabs import Slabs
from edgernn.core.stream import StepResult
from edgernn.errors import DataError, UsageError

SMALL_TICK = 8  # ticks of at most this many streams run in Python numbers
_isfinite = math.isfinite


@dataclass(frozen=True)
class BatchResult:
    """One tick's results, row i for the i-th key given, user units."""

    forecast: np.ndarray  # (N, n_targets) each target's forecast for the next step
    anomaly_score: np.ndarray  # (N,) float64; NaN while a stream warms up
    anomaly: np.ndarray  # (N,) bool: a detector fired (residual | drift)
    step: np.ndarray  # (N,) int64 steps taken by each stream, this one included
    residual: np.ndarray  # (N,) bool: anomaly_score above the threshold
    drift: np.ndarray  # (N,) bool: the drift test fired (see edgernn.core.drift)

    def detectors(self) -> list[str | None]:
        """Each row's ``StepResult.detector``: "residual", "drift", "residual+drift" or None."""
        return [DETECTORS[r, d] for r, d in zip(self.residual.tolist(), self.drift.tolist())]


class Pool(PoolSnapshots):
    """Keyed streams of one model. Thread-safe: each public call holds the pool's lock."""

    def __init__(
        self,
        model: LoadedModel,
        capacity: int = 64,
        threshold: float | None = None,
        warmup: int = 20,
        horizon: int = 500,
        idle_s: float | None = None,
        drift_threshold: float | None = None,
        spilled: MutableMapping[Hashable, bytes] | None = None,
    ):
        """``threshold``, ``warmup`` and ``drift_threshold`` are those of ``Stream``.
        ``spilled`` holds the snapshots of keys not in a slot (default: a dict in memory;
        ``edgernn.serve.store.StateStore.spilled`` keeps them in a database)."""
        sig = model.signature
        if sig.task != "forecast":
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; the pool runs forecasters"
            )
        if not sig.causal:
            raise UsageError(
                f"{model.path.name} needs a window of {sig.window} steps "
                "and cannot be pooled step by step"
            )
        self.model = model
        self.threshold = sig.anomaly_threshold if threshold is None else float(threshold)
        self.warmup, self.horizon, self.idle_s = warmup, horizon, idle_s
        # "host", or the ORT device the dense ticks' state lives on
        self._device = model.state_device
        self.drift_threshold = DRIFT_THRESHOLD if drift_threshold is None else drift_threshold
        # step counts, last rows and forecasts, residual statistics, drift tests: beside the slabs
        self._extras = Extras(
            len(sig.features),
            sig.target_feature_index(),
            self.threshold,
            warmup,
            horizon,
            self.drift_threshold,
        )
        self._lock = threading.RLock()
        self.slots: dict[Hashable, int] = {}  # key -> slot
        self._keys: list[Hashable] = []  # slot -> key
        # evicted streams' snapshots, restored on return
        self.spilled: MutableMapping[Hashable, bytes] = {} if spilled is None else spilled
        # keys whose state changed since the last take_dirty() (stepped, reset, restored)
        self.dirty: set[Hashable] = set()
        # the last snapshot check() passed, and its result: a spilled key's blob is checked by
        # the spill store as it is read (to name the key), then loaded without a second check
        self._checked: tuple[bytes, tuple[dict[str, Any], dict[str, np.ndarray]]] | None = None
        # (N,) shapes of one stream's state tensors, as its snapshots hold them
        self._shapes = [
            tuple(1 if a == "batch" else int(a) for a in spec.shape) for spec in sig.states
        ]
        self._version = 0  # bumped whenever slots move, so cached key -> slot lookups expire
        # (keys, version, slots, dense) of the last tick
        self._last_keys: tuple[list[Hashable], int, np.ndarray, bool] | None = None
        self._slabs: Slabs
        self._alloc(max(1, capacity))

    # ---- slabs -------------------------------------------------------------------------------
    def _alloc(self, capacity: int) -> None:
        """(Re)allocate the slabs and the per-slot arrays at ``capacity`` slots, keeping the
        active ones."""
        n = len(self._keys)
        slabs = Slabs(self.model, capacity, self._device)
        if n:
            slabs.copy_first(self._slabs, n)
        self._extras.resize(capacity, keep=n)
        self._slabs = slabs
        self.capacity = capacity
        self._version += 1

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.slots

    def keys(self) -> list[Hashable]:
        return list(self._keys)

    # ---- the tick ----------------------------------------------------------------------------
    def step_batch(self, keys: Sequence[Hashable], rows: Any) -> BatchResult:
        """One step for each key (keys unique), in one graph call. rows: (N, F) user units."""
        small = self._step_small(keys, rows) if len(keys) <= SMALL_TICK else None
        if small is not None:
            steps, preds, scores, flags, detectors = zip(*small)
            return BatchResult(
                np.array(preds, np.float32).reshape(len(small), len(self.model.signature.targets)),
                np.array([np.nan if s is None else s for s in scores], np.float64),
                np.array(flags, bool),
                np.array(steps, np.int64),
                np.array([d is not None and d != "drift" for d in detectors], bool),
                np.array([d is not None and d != "residual" for d in detectors], bool),
            )
        sig = self.model.signature
        rows = np.asarray(rows, dtype=np.float32).reshape(len(keys), -1)  # (N, F)
        if rows.shape[1] != len(sig.features):
            raise DataError(
                f"expected rows of {len(sig.features)} values ({', '.join(sig.features)}), "
                f"got {rows.shape[1]}"
            )
        if not np.isfinite(rows).all():
            raise DataError(NOT_FINITE)
        with self._lock:
            slots, dense = self._slots_for(keys)  # (N,), and whether that is every slot in order
            self.dirty.update(keys)
            n = len(self._keys)
            # (N, 1, K) model units
            y = self._run_dense(rows) if dense else self._run_gather(slots, rows)
            forecast = sig.target_scaler.inverse(y[:, 0])  # (N, K) user units
            at = slice(0, n) if dense else slots
            score, residual, n_steps, drift = self._extras.account(at, rows, forecast)
            return BatchResult(forecast, score, residual | drift, n_steps, residual, drift)

    def step(self, keys: Sequence[Hashable], rows: Any) -> list[StepResult]:
        """``step_batch`` as one ``StepResult`` per key (the same values a ``Stream`` gives)."""
        names = self.model.signature.targets
        small = self._step_small(keys, rows) if len(keys) <= SMALL_TICK else None
        if small is not None:
            return [StepResult(st, dict(zip(names, pred)), z, a, d) for st, pred, z, a, d in small]
        out = self.step_batch(keys, rows)
        return [
            StepResult(
                int(st),
                {t: float(v) for t, v in zip(names, f)},
                None if np.isnan(z) else float(z),
                bool(a),
                d,
            )
            for f, z, a, st, d in zip(
                out.forecast, out.anomaly_score, out.anomaly, out.step, out.detectors()
            )
        ]

    def _run_dense(self, rows: np.ndarray) -> np.ndarray:
        """Every slot ready, in slot order: no gather, no scatter (see ``Slabs``)."""
        n, slabs = len(rows), self._slabs
        self.model.signature.input_scaler.transform(rows, out=slabs.x[:n, 0])
        if not slabs.run_dense(n):
            return self._run_gather(np.arange(n), rows)
        return slabs.y[:n]

    def _run_gather(self, slots: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Some slots ready: gather their state, one graph call, scatter it back."""
        x = self.model.signature.input_scaler.transform(rows)[:, None, :]
        y, new_states = self.model.run(x, self._slabs.take(slots))
        self._slabs.put(slots, new_states)
        return y

    def _step_small(self, keys: Sequence[Hashable], rows: Any) -> list[SmallResult] | None:
        """A tick of at most ``SMALL_TICK`` keys as (step, forecast, score, anomaly, detector)
        per key, like ``Stream.step``: scaling through the bound buffers' memoryviews and
        bookkeeping in the per-slot arrays, in Python floats with float32 rounding where numpy
        rounds. None when ``rows`` is not a list of rows or an (N, F) float array of numbers: the
        numpy path has those (and their errors)."""
        scaler, F = self.model.signature.input_scaler, len(self.model.signature.features)
        lists = row_lists(rows, len(keys), F) if 0 < len(keys) <= self.capacity else None
        if lists is None:
            return None
        with self._lock:
            slabs = self._slabs
            try:
                # float32 rows
                values = [
                    scaler.transform_into(row, slabs.x_mem, i * F) for i, row in enumerate(lists)
                ]
            except (TypeError, ValueError, OverflowError):  # a value that is not a number
                return None
            # any NaN/inf shows; finite float32s cannot overflow it
            if not _isfinite(sum(map(sum, values))):
                raise DataError(NOT_FINITE)
            found, dense = self._slots_for(keys)
            self.dirty.update(keys)
            if self._slabs is not slabs:  # a new key grew the slabs: write x again, in the new ones
                slabs = self._slabs
                values = [
                    scaler.transform_into(row, slabs.x_mem, i * F) for i, row in enumerate(values)
                ]
            slots: list[int] = found.tolist()
            if not (dense and slabs.run_dense(len(slots))):
                slabs.run_gathered(slots)
            K = len(self.model.signature.targets)
            self.model.signature.target_scaler.inverse_inplace(slabs.y_mem, len(slots))
            y = slabs.y_mem[: len(slots) * K].tolist()  # (N * K,) user units
            now, account = time.monotonic(), self._extras.account_one
            return [
                account(slot, row, y[i * K : (i + 1) * K], now)
                for i, (slot, row) in enumerate(zip(slots, values))
            ]

    # ---- keys come and go ----------------------------------------------------------------------
    def _slots_for(self, keys: Sequence[Hashable]) -> tuple[np.ndarray, bool]:
        last = self._last_keys
        if last is not None and last[1] == self._version and keys == last[0]:
            # the same keys as last tick: a C-speed list compare, no dict lookups
            return last[2], last[3]
        if len(set(keys)) != len(keys):
            raise UsageError(
                "a tick takes each key at most once; split repeated keys over ticks "
                "(order within a key matters)"
            )
        slots = np.fromiter(
            (self.slots[k] if k in self.slots else self._add(k) for k in keys), np.int64, len(keys)
        )
        dense = len(slots) == len(self._keys) and bool((slots == np.arange(len(slots))).all())
        self._last_keys = (list(keys), self._version, slots, dense)
        return slots, dense

    def _add(self, key: Hashable) -> int:
        """A slot for a new key: fresh, or restored from its spilled snapshot."""
        if len(self._keys) == self.capacity:
            self._alloc(2 * self.capacity)
        slot = len(self._keys)
        self._version += 1
        self._keys.append(key)
        self.slots[key] = slot
        self._clear(slot)
        try:
            blob = self.spilled.pop(key, None)
            if blob is not None:
                self._load(slot, blob)
        except BaseException:  # a damaged snapshot: the key is not added, nothing is half-loaded
            self._keys.pop()
            del self.slots[key]
            raise
        return slot

    def _clear(self, slot: int) -> None:
        self._slabs.clear(slot)
        self._extras.clear(slot)

    def reset(self, key: Hashable) -> None:
        """The key's stream starts over (as ``Stream.reset``)."""
        with self._lock:
            self.spilled.pop(key, None)
            if key in self.slots:
                self._clear(self.slots[key])
                self.dirty.add(key)

    def remove(self, key: Hashable) -> bytes:
        """Take the key out of the pool; returns its snapshot (``model.stream(state=...)``
        continues it)."""
        with self._lock:
            self.dirty.discard(key)
            if key not in self.slots:
                blob = self.spilled.pop(key, None)
                if blob is None:
                    raise UsageError(f"key {key!r} is not in the pool")
                return blob
            blob = self._take(key)
            self.spilled.pop(key, None)  # a spill store forgets it too (a saved row goes)
            return blob

    def _take(self, key: Hashable) -> bytes:
        """The key's snapshot, and its slot freed (the slots stay dense)."""
        self.dirty.discard(key)  # its snapshot goes wherever the caller puts it
        self._version += 1
        slot, last = self.slots.pop(key), len(self._keys) - 1
        blob = self._snapshot(slot)
        if slot != last:  # keep slots dense: the last stream moves into the hole
            self._slabs.move(last, slot)
            self._extras.move(last, slot)
            self._keys[slot] = self._keys[last]
            self.slots[self._keys[slot]] = slot
        self._keys.pop()
        return blob

    def evict_idle(self, now: float | None = None) -> list[Hashable]:
        """Spill streams idle longer than ``idle_s``; they come back on their next step."""
        if self.idle_s is None:
            return []
        with self._lock:
            now = time.monotonic() if now is None else now
            seen = self._extras.arrays["seen"][: len(self._keys)]  # (n,) monotonic seconds
            idle = [self._keys[i] for i in np.flatnonzero(now - seen > self.idle_s).tolist()]
            for k in idle:
                self.spilled[k] = self._take(k)
            return idle
