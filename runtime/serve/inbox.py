"""The hand-off between the reader thread and the stream loop: a bounded queue in bursts."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

END = object()


class Inbox:
    """The bounded FIFO from the reader thread to the loop, with hysteresis: once it is full,
    the reader sleeps until the loop has drained it to half, instead of being woken for every
    record. (``queue.Queue`` woke the reader, and so passed the GIL back and forth, once per
    record: with a fast source that halved `edgernn stream`'s throughput.) A record put into
    an empty inbox wakes the loop at once, so a live feed waits no longer than before.

    >>> box = Inbox(size=4)
    >>> for i in range(3):
    ...     box.put(i)
    >>> box.get(), box.get(timeout=0), box.get(timeout=0)
    (0, 1, 2)
    >>> box.get(timeout=0)
    Traceback (most recent call last):
    ...
    _queue.Empty
    """

    def __init__(self, size: int):
        self._items: deque[Any] = deque()
        self._size, self._low = max(1, size), max(1, size) // 2
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)  # the loop waits here for records
        self._drained = threading.Condition(self._lock)  # a full inbox's reader waits here

    def put(self, item: Any) -> None:
        """Append ``item``; when the inbox is full, first wait until it is down to half."""
        with self._lock:
            if len(self._items) >= self._size:
                while len(self._items) > self._low:
                    self._drained.wait()
            self._items.append(item)
            self._not_empty.notify()

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; ``queue.Empty`` when none arrives within ``timeout`` seconds (0:
        do not wait, None: wait for ever)."""
        with self._lock:
            if not self._items and (
                timeout == 0 or not self._not_empty.wait_for(lambda: self._items, timeout)
            ):
                raise queue.Empty
            item = self._items.popleft()
            if len(self._items) == self._low:
                self._drained.notify()
            return item


def read_into(items: Iterable[Any], q: Inbox) -> None:
    """Reader thread: every item into ``q`` (blocking when full), then the end marker."""
    try:
        for item in items:
            q.put(item)
    except BaseException as e:  # handed to the main thread, which raises it
        q.put(e)
    q.put(END)
