"""Many keyed streams over one model: state in slot-indexed slabs, one graph call per tick.

Each key owns a slot. Every state tensor lives in one slab whose batch axis is the slot, and
so do the per-stream extras (step count, last input and forecast, anomaly statistics). Active
slots are kept dense (0..n-1; a removed slot is refilled from the last one), so a tick is:
gather the ready slots' state (a plain view when every slot is ready, in order), one
``Model.run`` over the stacked batch, scatter the new state back, and vectorised anomaly
scoring. No Python loop over streams on the hot path.

Results are bit-for-bit those of separate ``Stream`` objects (tests/runtime/test_pool.py).

>>> import edgernn, numpy as np
>>> pool = edgernn.load(provider="cpu").pool()
>>> out = pool.step_batch(["a", "b"], np.array([[21.0, 50.0], [19.0, 60.0]]))
>>> out.forecast.shape, out.step.tolist(), len(pool)
((2, 1), [1, 1], 2)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np
import onnxruntime as ort

from edgernn import snapshot
from edgernn.anomaly import ResidualStats
from edgernn.errors import DataError, StateError, UsageError
from edgernn.stream import StepResult


SMALL_TICK = 8  # ticks of at most this many streams score anomalies in Python floats


@dataclass(frozen=True)
class BatchResult:
    """One tick's results, row i for the i-th key given, user units."""

    forecast: np.ndarray  # (N, n_targets) each target's forecast for the next step
    anomaly_score: np.ndarray  # (N,) float64; NaN while a stream warms up
    anomaly: np.ndarray  # (N,) bool
    step: np.ndarray  # (N,) int64 steps taken by each stream, this one included


class Pool:
    """Keyed streams of one model. Thread-safe: each public call holds the pool's lock."""

    def __init__(self, model, capacity: int = 64, threshold: float | None = None, warmup: int = 20,
                 horizon: int = 500, idle_s: float | None = None):
        sig = model.signature
        if sig.task != "forecast":
            raise UsageError(f"{model.path.name} is a {sig.task!r} model; the pool runs forecasters")
        if not sig.causal:
            raise UsageError(f"{model.path.name} needs a window of {sig.window} steps and cannot be pooled step by step")
        self.model = model
        self.threshold = sig.anomaly_threshold if threshold is None else float(threshold)
        self.warmup, self.horizon, self.idle_s = warmup, horizon, idle_s
        self._tcols = sig.target_feature_index()
        self._scored = None not in self._tcols  # residuals need every target among the inputs
        self._lock = threading.RLock()
        self.slots: dict[Hashable, int] = {}  # key -> slot
        self._keys: list[Hashable] = []  # slot -> key
        self.spilled: dict[Hashable, bytes] = {}  # evicted streams' snapshots, restored on return
        self._version = 0  # bumped whenever slots move, so cached key -> slot lookups expire
        self._last_keys: tuple | None = None  # (keys, version, slots, dense) of the last tick
        self._alloc(max(1, capacity))

    # ---- slabs -------------------------------------------------------------------------------
    def _alloc(self, capacity: int) -> None:
        """(Re)allocate every slab at ``capacity`` slots, keeping the active ones."""
        sig, n = self.model.signature, len(self._keys)
        F, K = len(sig.features), len(sig.targets)
        new = {
            "states": [spec.zeros(capacity) for spec in sig.states],  # batch axis = slot
            "n_steps": np.zeros(capacity, np.int64),
            "has_pred": np.zeros(capacity, bool),
            "last_row": np.zeros((capacity, F), np.float32),
            "last_pred": np.zeros((capacity, K), np.float32),
            "count": np.zeros(capacity, np.int64),  # residuals absorbed
            "mean": np.zeros((capacity, K), np.float64),
            "var": np.zeros((capacity, K), np.float64),
            "seen": np.zeros(capacity, np.float64),  # monotonic time of the last step
        }
        if n:
            for dst, src, ax in zip(new["states"], self._slab["states"], self._axes):
                dst[_at(ax, slice(0, n))] = src[_at(ax, slice(0, n))]
            for name, arr in new.items():
                if name != "states":
                    arr[:n] = self._slab[name][:n]
        self._slab = new
        self._spare = [spec.zeros(capacity) for spec in sig.states]  # output side of dense ticks
        self._x = np.zeros((capacity, 1, F), np.float32)  # (cap, 1, F) bound input, model units
        self._y = np.zeros((capacity, 1, K), np.float32)  # (cap, 1, K) bound output
        self._bindings: dict = {}  # (n, id of the live state set) -> IOBinding
        self._axes = [spec.batch_axis for spec in sig.states]
        self.capacity = capacity
        self._version += 1

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.slots

    def keys(self) -> list[Hashable]:
        return list(self._keys)

    # ---- the tick ----------------------------------------------------------------------------
    def step_batch(self, keys: Sequence[Hashable], rows) -> BatchResult:
        """One step for each key (keys unique), in one graph call. rows: (N, F) user units."""
        sig = self.model.signature
        rows = np.asarray(rows, dtype=np.float32).reshape(len(keys), -1)  # (N, F)
        if rows.shape[1] != len(sig.features):
            raise DataError(f"expected rows of {len(sig.features)} values ({', '.join(sig.features)}), got {rows.shape[1]}")
        if not np.isfinite(rows).all():
            raise DataError("inputs contain NaN or inf; drop or fill those values before streaming them")
        with self._lock:
            slots, dense = self._slots_for(keys)  # (N,), and whether that is every slot in order
            n = len(self._keys)
            y = self._run_dense(rows) if dense else self._run_gather(slots, rows)  # (N, 1, K) model units
            preds = sig.target_scaler.inverse(y[:, 0])  # (N, K) user units
            return self._account(slice(0, n) if dense else slots, rows, preds)

    def _run_dense(self, rows: np.ndarray) -> np.ndarray:
        """Every slot ready, in slot order: the graph reads the live slabs and writes the spare
        ones through a cached IOBinding, then the two swap. Nothing is gathered or copied."""
        n = len(rows)
        binding = self._binding(n)
        if binding is None:
            return self._run_gather(np.arange(n), rows)
        self.model.signature.input_scaler.transform(rows, out=self._x[:n, 0])
        self.model.session.run_with_iobinding(binding)  # no RunOptions: they cost ~30 us a call
        self._slab["states"], self._spare = self._spare, self._slab["states"]
        return self._y[:n]

    def _binding(self, n: int):
        live = self._slab["states"]
        key = (n, id(live[0]))
        if key not in self._bindings:
            views_in = [s[_at(ax, slice(0, n))] for s, ax in zip(live, self._axes)]
            views_out = [s[_at(ax, slice(0, n))] for s, ax in zip(self._spare, self._axes)]
            if not all(v.flags.c_contiguous for v in views_in + views_out):
                return None  # this state layout cannot be bound as views: gather instead
            if len(self._bindings) >= 4:
                self._bindings.clear()
            sig, value = self.model.signature, ort.OrtValue.ortvalue_from_numpy
            b = self.model.session.io_binding()
            b.bind_ortvalue_input(sig.input_name, value(self._x[:n]))
            b.bind_ortvalue_output(sig.output_name, value(self._y[:n]))
            for spec, v_in, v_out in zip(sig.states, views_in, views_out):
                b.bind_ortvalue_input(spec.input, value(v_in))
                b.bind_ortvalue_output(spec.output, value(v_out))
            self._bindings[key] = b
        return self._bindings[key]

    def _run_gather(self, slots: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Some slots ready: gather their state, one graph call, scatter it back."""
        sig = self.model.signature
        states = [np.take(s, slots, axis=ax) for s, ax in zip(self._slab["states"], self._axes)]
        y, new_states = self.model.run(sig.input_scaler.transform(rows)[:, None, :], states)
        for slab, ax, new in zip(self._slab["states"], self._axes, new_states):
            slab[_at(ax, slots)] = new
        return y

    def step(self, keys: Sequence[Hashable], rows) -> list[StepResult]:
        """``step_batch`` as one ``StepResult`` per key (the same values a ``Stream`` gives)."""
        out = self.step_batch(keys, rows)
        names = self.model.signature.targets
        return [StepResult(int(st), {t: float(v) for t, v in zip(names, f)}, None if np.isnan(z) else float(z), bool(a))
                for f, z, a, st in zip(out.forecast, out.anomaly_score, out.anomaly, out.step)]

    def _account(self, slots: np.ndarray | slice, rows: np.ndarray, preds: np.ndarray) -> BatchResult:
        """Vectorised ``Stream._account``: score residuals, update statistics, remember.
        ``slots`` is a slice (views, no copies) when every slot stepped, in order."""
        sl = self._slab
        score = np.full(len(rows), np.nan)
        anomaly = np.zeros(len(rows), bool)
        if self._scored and len(rows) <= SMALL_TICK:
            self._score_rows(slots, rows, score, anomaly)
        elif self._scored:
            has = sl["has_pred"][slots]
            resid = (rows[:, self._tcols] - sl["last_pred"][slots]).astype(np.float64)  # float32 difference, like Stream
            count, mean, var = sl["count"][slots], sl["mean"][slots], sl["var"][slots]
            warm = has & (count >= self.warmup)
            delta = resid - mean  # (N, K)
            z = np.max(np.abs(delta) / np.sqrt(np.maximum(var, 1e-12)), axis=1)  # (N,)
            anomaly = warm & (z > self.threshold)
            score[warm] = z[warm]
            absorb = has & ~anomaly
            count += absorb  # in place when slots is a slice
            # alpha 0 leaves a stream's statistics exactly as they were (x + 0 * d == x)
            alpha = np.where(absorb, 1.0 / np.minimum(np.maximum(count, 1), self.horizon), 0.0)[:, None]
            sl["count"][slots] = count
            sl["mean"][slots] = mean + alpha * delta
            sl["var"][slots] = (1 - alpha) * (var + alpha * delta * delta)
        sl["n_steps"][slots] += 1
        sl["last_row"][slots], sl["last_pred"][slots], sl["has_pred"][slots] = rows, preds, True
        sl["seen"][slots] = time.monotonic()
        return BatchResult(preds, score, anomaly, sl["n_steps"][slots].copy())

    def _score_rows(self, slots: np.ndarray | slice, rows: np.ndarray, score: np.ndarray, anomaly: np.ndarray) -> None:
        """Small ticks: the same statistics row by row in Python floats (``ResidualStats``),
        which beats some 40 numpy calls on tiny arrays. Same arithmetic, same bits."""
        sl, K = self._slab, len(self.model.signature.targets)
        for i, slot in enumerate(range(len(self._keys))[slots] if isinstance(slots, slice) else slots.tolist()):
            if not sl["has_pred"][slot]:
                continue
            stats = ResidualStats(K, self.warmup, self.horizon, self.threshold, int(sl["count"][slot]),
                                  sl["mean"][slot].tolist(), sl["var"][slot].tolist())
            z = stats.observe((rows[i, self._tcols] - sl["last_pred"][slot]).tolist())  # float32 difference
            if z is not None:
                score[i], anomaly[i] = z, z > self.threshold
            sl["count"][slot], sl["mean"][slot], sl["var"][slot] = stats.count, stats.mean, stats.var

    # ---- keys come and go ----------------------------------------------------------------------
    def _slots_for(self, keys: Sequence[Hashable]) -> tuple[np.ndarray, bool]:
        last = self._last_keys
        if last is not None and last[1] == self._version and keys == last[0]:
            return last[2], last[3]  # the same keys as last tick: a C-speed list compare, no dict lookups
        if len(set(keys)) != len(keys):
            raise UsageError("a tick takes each key at most once; split repeated keys over ticks (order within a key matters)")
        slots = np.fromiter((self.slots[k] if k in self.slots else self._add(k) for k in keys), np.int64, len(keys))
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
        blob = self.spilled.pop(key, None)
        if blob is not None:
            self._load(slot, blob)
        return slot

    def _clear(self, slot: int) -> None:
        for slab, ax, spec in zip(self._slab["states"], self._axes, self.model.signature.states):
            slab[_at(ax, slot)] = spec.init
        for name in ("n_steps", "has_pred", "last_row", "last_pred", "count", "mean", "var"):
            self._slab[name][slot] = 0
        self._slab["seen"][slot] = time.monotonic()

    def reset(self, key: Hashable) -> None:
        """The key's stream starts over (as ``Stream.reset``)."""
        with self._lock:
            self.spilled.pop(key, None)
            if key in self.slots:
                self._clear(self.slots[key])

    def remove(self, key: Hashable) -> bytes:
        """Take the key out of the pool; returns its snapshot (``model.stream(state=...)`` continues it)."""
        with self._lock:
            if key not in self.slots:
                blob = self.spilled.pop(key, None)
                if blob is None:
                    raise UsageError(f"key {key!r} is not in the pool")
                return blob
            self._version += 1
            slot, last = self.slots.pop(key), len(self._keys) - 1
            blob = self._snapshot(slot)
            if slot != last:  # keep slots dense: the last stream moves into the hole
                self._move(last, slot)
                self._keys[slot] = self._keys[last]
                self.slots[self._keys[slot]] = slot
            self._keys.pop()
            return blob

    def _move(self, src: int, dst: int) -> None:
        for slab, ax in zip(self._slab["states"], self._axes):
            slab[_at(ax, dst)] = slab[_at(ax, src)]
        for name, arr in self._slab.items():
            if name != "states":
                arr[dst] = arr[src]

    def evict_idle(self, now: float | None = None) -> list[Hashable]:
        """Spill streams idle longer than ``idle_s``; they come back on their next step."""
        if self.idle_s is None:
            return []
        with self._lock:
            now = time.monotonic() if now is None else now
            idle = [k for k in self._keys if now - self._slab["seen"][self.slots[k]] > self.idle_s]
            for k in idle:
                self.spilled[k] = self.remove(k)
            return idle

    # ---- snapshots (the Stream format, so a pooled stream and a Stream are interchangeable) ---
    def snapshot(self, key: Hashable) -> bytes:
        with self._lock:
            if key in self.spilled:
                return self.spilled[key]
            if key not in self.slots:
                raise UsageError(f"key {key!r} is not in the pool")
            return self._snapshot(self.slots[key])

    def restore(self, key: Hashable, blob: bytes) -> None:
        """Put a snapshot (from ``Stream.snapshot`` or ``Pool.snapshot``) under ``key``."""
        with self._lock:
            snapshot.unpack(blob, self.model.model_id)  # refuse before touching anything
            if key in self.slots:
                self._clear(self.slots[key])
                self._load(self.slots[key], blob)
            else:
                self.spilled[key] = blob

    def _snapshot(self, slot: int) -> bytes:
        sl = self._slab
        has = bool(sl["has_pred"][slot])
        meta = {
            "kind": "stream",
            "n_steps": int(sl["n_steps"][slot]),
            "last_row": sl["last_row"][slot].tolist() if has else None,
            "last_pred": sl["last_pred"][slot].tolist() if has else None,
            "residuals": {"count": int(sl["count"][slot]), "mean": sl["mean"][slot].tolist(), "var": sl["var"][slot].tolist()},
        }
        arrays = {f"state_{i}": np.ascontiguousarray(np.expand_dims(s[_at(ax, slot)], ax))
                  for i, (s, ax) in enumerate(zip(sl["states"], self._axes))}
        return snapshot.pack(self.model.model_id, meta, arrays)

    def _load(self, slot: int, blob: bytes) -> None:
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        if meta.get("kind") != "stream":
            raise StateError(f"this is a {meta.get('kind')!r} snapshot, not a stream's")
        sl = self._slab
        for i, (s, ax) in enumerate(zip(sl["states"], self._axes)):
            got = arrays.get(f"state_{i}")
            if got is None or got.shape != np.expand_dims(s[_at(ax, slot)], ax).shape:
                raise StateError("snapshot state does not match this model's state shapes; take a new snapshot")
            s[_at(ax, slot)] = np.squeeze(got, ax)
        sl["n_steps"][slot] = meta["n_steps"]
        sl["has_pred"][slot] = meta["last_pred"] is not None
        if meta["last_pred"] is not None:
            sl["last_row"][slot], sl["last_pred"][slot] = meta["last_row"], meta["last_pred"]
        r = meta["residuals"]
        sl["count"][slot], sl["mean"][slot], sl["var"][slot] = r["count"], r["mean"], r["var"]


    # ---- the whole pool, for durable state ------------------------------------------------------
    def save_state(self, extra: dict | None = None) -> bytes:
        """Every stream (active and spilled) as one checksummed blob; ``extra`` rides along (JSON)."""
        with self._lock:
            n = len(self._keys)
            arrays = {f"state_{i}": np.ascontiguousarray(s[_at(ax, slice(0, n))])
                      for i, (s, ax) in enumerate(zip(self._slab["states"], self._axes))}
            arrays |= {name: arr[:n] for name, arr in self._slab.items() if name not in ("states", "seen")}
            spilled = list(self.spilled.items())
            arrays |= {f"spilled_{i}": np.frombuffer(b, np.uint8) for i, (_, b) in enumerate(spilled)}
            meta = {"kind": "pool", "keys": self._keys, "spilled": [k for k, _ in spilled], "extra": extra or {}}
            return snapshot.pack(self.model.model_id, meta, arrays)

    def load_state(self, blob: bytes) -> dict:
        """Replace every stream with those of a ``save_state`` blob; returns its ``extra``."""
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        if meta.get("kind") != "pool":
            raise StateError(f"this is a {meta.get('kind')!r} snapshot, not a pool's")
        with self._lock:
            keys = meta["keys"]
            self._keys, self.slots, self.spilled = [], {}, {}
            self._alloc(max(self.capacity, len(keys)))
            n = len(keys)
            for i, (s, ax) in enumerate(zip(self._slab["states"], self._axes)):
                s[_at(ax, slice(0, n))] = arrays[f"state_{i}"]
            for name, arr in self._slab.items():
                if name in arrays:
                    arr[:n] = arrays[name]
            self._slab["seen"][:n] = time.monotonic()
            self._keys, self.slots = list(keys), {k: i for i, k in enumerate(keys)}
            self._version += 1
            self.spilled = {k: arrays[f"spilled_{i}"].tobytes() for i, k in enumerate(meta["spilled"])}
            return meta["extra"]


def _at(axis: int, index) -> tuple:
    """An index tuple selecting ``index`` along ``axis`` (everything along the axes before it)."""
    return (slice(None),) * axis + (index,)
