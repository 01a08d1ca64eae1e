"""A pool's spilled keys kept in the state database (``Pool(spilled=StateStore.spilled)``):
keys not in the pool are read from their rows when they come back, and the bookkeeping a
checkpoint needs (keys spilled, new or dropped since the last one) is kept here.

>>> import tempfile, edgernn
>>> from pathlib import Path
>>> from edgernn.serve.store import StateStore
>>> store = StateStore(Path(tempfile.mkdtemp()), edgernn.load(provider="cpu"))
>>> isinstance(store.spilled, Spilled), len(store.spilled)
(True, 0)
>>> store.close()
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from typing import Any, Protocol

from edgernn.errors import StateError


class Rows(Protocol):
    """What ``Spilled`` reads of the state store (``edgernn.serve.store.StateStore``)."""

    keys: int  # rows in the database

    def row(self, key: Hashable) -> tuple[bytes, Any, Any] | None: ...

    def damaged(self, key: Hashable, why: str) -> StateError: ...

    def all_keys(self) -> list[Hashable]: ...


class Spilled(MutableMapping[Hashable, bytes]):
    """A pool's spilled snapshots, kept in the database (``Pool(spilled=store.spilled)``).

    A key is spilled when it is known but not in the pool: a database row whose key is not
    active, or a snapshot spilled since the last checkpoint (``pending``, written by the next
    one). Taking a key (``pop``) reads its row and checks it against the model. Bookkeeping for
    the next checkpoint: ``new`` (known keys without a row yet), ``dropped`` (rows to delete:
    keys reset or removed while spilled), ``stamps`` (timestamps of pending keys).

    >>> import tempfile, edgernn
    >>> from pathlib import Path
    >>> from edgernn.serve.store import StateStore
    >>> model = edgernn.load(provider="cpu")
    >>> store = StateStore(Path(tempfile.mkdtemp()), model)
    >>> pool = edgernn.Pool(model, spilled=store.spilled, idle_s=0.0)
    >>> store.bind(pool)
    >>> _ = pool.step(["a"], [[21.0, 50.0]])
    >>> pool.evict_idle(now=1e12), list(store.spilled.pending)  # spilled: waits for the commit
    (['a'], ['a'])
    >>> store.commit(pool, {}, {}), dict(store.spilled.pending), "a" in pool.spilled
    (1, {}, True)
    >>> pool.step(["a"], [[21.5, 50.0]])[0].step  # read back from the database
    2
    >>> store.close()
    """

    def __init__(self, store: Rows):
        # the store holds this mapping: a proxy back, so no reference cycle
        self.store: Rows = weakref.proxy(store)
        self.pending: dict[Hashable, bytes] = {}  # spilled since the last checkpoint
        # key -> (last timestamp, resumed timestamp) of a pending key
        self.stamps: dict[Hashable, tuple[Any, Any]] = {}
        self.new: set[Hashable] = set()  # known keys without a row yet
        self.dropped: set[Hashable] = set()  # rows to delete at the next checkpoint
        self.active: Callable[[Hashable], bool] = lambda key: False  # is the key in the pool?
        self.n_active: Callable[[], int] = lambda: 0  # how many keys the pool holds
        # checks a snapshot against the model (Pool.check); StateError when it does not fit
        self.check: Callable[[bytes], object] = lambda blob: None

    def park(self, key: Hashable, last: Any, resumed: Any) -> None:
        """Timestamps of a key just spilled, written with its snapshot at the next checkpoint."""
        if last is not None or resumed is not None:
            self.stamps[key] = (last, resumed)

    def _stored(self, key: Hashable) -> bytes | None:
        """The row's snapshot of a key not in memory, checked; None when there is no row."""
        if key in self.dropped or key in self.new:
            return None
        found = self.store.row(key)
        if found is None:
            return None
        try:
            self.check(found[0])
        except StateError as e:
            raise self.store.damaged(key, str(e)) from e
        return found[0]

    def _forget(self, key: Hashable) -> None:
        """The key leaves (reset or removed while spilled): its row goes at the checkpoint."""
        self.stamps.pop(key, None)
        if key in self.new:
            self.new.discard(key)
        else:
            self.dropped.add(key)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        if key in self.pending:
            blob = self.pending.pop(key)
            if self.active(key):  # back in the pool: its timestamps are the runner's again
                self.stamps.pop(key, None)
            else:
                self._forget(key)
            return blob
        if self.active(key) and key in self.dropped:  # reset while spilled, back fresh
            self.dropped.discard(key)  # its row is overwritten at the checkpoint
            return default
        if not self.active(key) and key in self.new:  # removed before it was ever saved
            self._forget(key)
            return default
        stored = self._stored(key)
        if stored is None:
            if self.active(key) and key not in self.dropped:
                self.new.add(key)
            return default
        if not self.active(key):
            self._forget(key)
        return stored

    def __getitem__(self, key: Hashable) -> bytes:
        if key in self.pending:
            return self.pending[key]
        stored = None if self.active(key) else self._stored(key)
        if stored is None:
            raise KeyError(key)
        return stored

    def __setitem__(self, key: Hashable, blob: bytes) -> None:
        known = key in self.pending or key in self.new or key in self.dropped
        if not known and self.store.row(key) is None:  # restored under a key never saved
            self.new.add(key)
        self.dropped.discard(key)
        self.pending[key] = blob

    def __delitem__(self, key: Hashable) -> None:
        if key not in self:
            raise KeyError(key)
        self.pop(key)

    def __contains__(self, key: object) -> bool:
        if key in self.pending:
            return True
        if key in self.dropped or key in self.new or self.active(key):
            return False
        try:
            return self.store.row(key) is not None
        except TypeError:  # not JSON: never a key
            return False

    def __len__(self) -> int:
        return self.store.keys - len(self.dropped) + len(self.new) - self.n_active()

    def __iter__(self) -> Iterator[Hashable]:
        yield from list(self.pending)
        for key in self.store.all_keys():
            if key not in self.pending and key in self:
                yield key
