"""Spotting repeats in a feed with bounded memory: the latest values seen."""

from __future__ import annotations

from collections.abc import Hashable


class Recent:
    """Whether a value is among the latest added: the last ``size`` at least, ``2 * size`` at
    most (two generations of a set: bounded memory, one set operation per add).

    >>> r = Recent(size=2)
    >>> for v in "abcde":
    ...     r.add(v)
    >>> "a" in r, "c" in r, "e" in r
    (False, True, True)
    """

    def __init__(self, size: int = 10_000):
        self._new: set[Hashable] = set()
        self._old: set[Hashable] = set()
        self._size = size

    def __contains__(self, value: Hashable) -> bool:
        return value in self._new or value in self._old

    def add(self, value: Hashable) -> None:
        self._new.add(value)
        if len(self._new) >= self._size:
            self._old, self._new = self._new, set()
