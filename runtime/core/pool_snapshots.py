"""The pool's snapshots and durable state: one key's state in the ``Stream`` snapshot format
(so a pooled stream and a ``Stream`` are interchangeable), the checks a snapshot passes before
it is loaded, the keys changed since the last checkpoint, and the whole pool as one blob.

``PoolSnapshots`` is the half of ``edgernn.Pool`` that reads and writes state; ``pool.py``
holds the other half, stepping and slots. The attributes below are ``Pool``'s own.

>>> import edgernn
>>> pool = edgernn.load(provider="cpu").pool()
>>> _ = pool.step(["a"], [[21.0, 50.0]])
>>> again = edgernn.load(provider="cpu").pool()
>>> again.restore("a", pool.snapshot("a"))
>>> again.snapshot("a") == pool.snapshot("a")
True
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, MutableMapping, Sequence
from typing import Any

import numpy as np

from edgernn.core import pool_state, snapshot
from edgernn.core.extras import Extras
from edgernn.core.protocols import LoadedModel
from edgernn.core.slabs import Slabs
from edgernn.errors import StateError, UsageError


class PoolSnapshots:
    """Snapshots, checks and durable state of a ``Pool`` (its state half)."""

    # ``Pool``'s attributes and slot methods, which these methods read and call
    model: LoadedModel
    capacity: int
    slots: dict[Hashable, int]  # key -> slot
    spilled: MutableMapping[Hashable, bytes]  # keys not in a slot -> their snapshots
    dirty: set[Hashable]  # keys whose state changed since the last take_dirty()
    _lock: threading.RLock
    _keys: list[Hashable]  # slot -> key
    _slabs: Slabs
    _extras: Extras
    _shapes: list[tuple[int, ...]]  # one stream's state shapes, as its snapshots hold them
    _checked: tuple[bytes, tuple[dict[str, Any], dict[str, np.ndarray]]] | None
    _version: int

    def _alloc(self, capacity: int) -> None: ...

    def _clear(self, slot: int) -> None: ...

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
            self.check(blob)  # refuse before touching anything
            if key in self.slots:
                self._clear(self.slots[key])
                self._load(self.slots[key], blob)
                self.dirty.add(key)
            else:
                self.spilled[key] = blob

    def take_dirty(self) -> set[Hashable]:
        """The keys whose state changed since the last call (a checkpoint writes those).

        >>> import edgernn
        >>> pool = edgernn.load(provider="cpu").pool()
        >>> _ = pool.step(["a", "b"], [[21.0, 50.0], [19.0, 60.0]])
        >>> sorted(pool.take_dirty()), pool.take_dirty()
        (['a', 'b'], set())
        """
        with self._lock:
            dirty, self.dirty = self.dirty, set()
            return dirty

    def check(self, blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A stream snapshot's (header, arrays), its content checked against this model:
        StateError when it is damaged, forged, or from another model.

        >>> import edgernn
        >>> model = edgernn.load(provider="cpu")
        >>> meta, arrays = model.pool().check(model.stream().snapshot())
        >>> meta["n_steps"], sorted(arrays)
        (0, ['state_0', 'state_1', 'state_2', 'state_3'])
        """
        if self._checked is not None and self._checked[0] is blob:  # checked just before
            return self._checked[1]
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        sig = self.model.signature
        snapshot.check_stream(meta, arrays, self._shapes, len(sig.features), len(sig.targets))
        self._checked = (blob, (meta, arrays))
        return meta, arrays

    def snapshots(self, keys: Sequence[Hashable]) -> list[bytes]:
        """``snapshot`` of each key in the pool (the same bytes), gathered per tensor and per
        field at once: what a checkpoint of many keys costs.

        >>> import edgernn
        >>> pool = edgernn.load(provider="cpu").pool()
        >>> _ = pool.step(["a", "b"], [[21.0, 50.0], [19.0, 60.0]])
        >>> pool.snapshots(["b", "a"]) == [pool.snapshot("b"), pool.snapshot("a")]
        True
        """
        if not keys:
            return []
        with self._lock:
            slots = np.fromiter((self.slots[k] for k in keys), np.int64, len(keys))  # (N,)
            return pool_state.gather(
                self.model.model_id, self._slabs, self._extras.arrays, self._shapes, slots
            )

    def _snapshot(self, slot: int) -> bytes:
        meta = {"kind": "stream", **self._extras.stream_meta(slot)}
        arrays = {f"state_{i}": s for i, s in enumerate(self._slabs.slot_states(slot))}
        return snapshot.pack(self.model.model_id, meta, arrays)

    def _load(self, slot: int, blob: bytes) -> None:
        meta, arrays = self.check(blob)
        self._slabs.load_slot(
            slot, [arrays.get(f"state_{i}") for i in range(len(self._slabs.axes))]
        )
        self._extras.load_stream_meta(slot, meta)

    # ---- the whole pool, for durable state ------------------------------------------------------
    def save_state(self, extra: dict[str, Any] | None = None) -> bytes:
        """Every stream (active and spilled) as one checksummed blob; ``extra`` rides along
        (JSON)."""
        with self._lock:
            n = len(self._keys)
            arrays = {f"state_{i}": s for i, s in enumerate(self._slabs.first(n))}
            arrays |= self._extras.saved(n)
            spilled = list(self.spilled.items())
            arrays |= {
                f"spilled_{i}": np.frombuffer(b, np.uint8) for i, (_, b) in enumerate(spilled)
            }
            meta = {
                "kind": "pool",
                "keys": self._keys,
                "spilled": [k for k, _ in spilled],
                "extra": extra or {},
            }
            return snapshot.pack(self.model.model_id, meta, arrays)

    def load_state(self, blob: bytes) -> dict[str, Any]:
        """Replace every stream with those of a ``save_state`` blob; returns its ``extra``."""
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        if meta.get("kind") != "pool":
            raise StateError(f"this is a {str(meta.get('kind'))[:40]!r} snapshot, not a pool's")
        if not isinstance(self.spilled, dict):
            raise UsageError(
                "load_state replaces every stream, spilled ones included: call it on a pool "
                "that keeps its spills in memory (no spilled= store)"
            )
        with self._lock:
            keys = pool_state.check(
                meta, arrays, self.model.signature.states, self._extras.arrays, self.check
            )
            self._keys, self.slots, self.spilled = [], {}, {}
            self._alloc(max(self.capacity, len(keys)))
            n = len(keys)
            self._slabs.load_first(n, [arrays[f"state_{i}"] for i in range(len(self._slabs.axes))])
            self._extras.load_saved(arrays, n)
            self._keys, self.slots = list(keys), {k: i for i, k in enumerate(keys)}
            self._version += 1
            self.spilled = {
                k: arrays[f"spilled_{i}"].tobytes() for i, k in enumerate(meta["spilled"])
            }
            extra: dict[str, Any] = meta["extra"]
            return extra
