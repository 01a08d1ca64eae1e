"""What orders a key's records: a sort key for timestamps, the gap between two, and a
record's identity for spotting repeats. Numbers (and numeric text) order by value, ISO-8601
and other text as text; a non-finite number cannot order anything and is a bad record.

>>> ts_order(3) < ts_order("4") < ts_order("2026-01-01T00:00:00")
True
>>> seconds_between("2026-01-01T00:00:00", "2026-01-01T00:01:30"), seconds_between(2, 7.5)
(90.0, 5.5)
>>> orderable(float("inf")), orderable("10")
(False, True)
"""

from __future__ import annotations

import math
from collections.abc import Container
from datetime import datetime
from typing import Any

from edgernn.errors import RecordError
from edgernn.feeds.records import Record


def digest(record: Record) -> int:
    """A record's identity for spotting repeats: key, timestamp and values."""
    try:
        return hash((record.key, record.timestamp, record.values.tobytes()))
    except TypeError:  # a timestamp that is a list or an object
        return hash((record.key, repr(record.timestamp), record.values.tobytes()))


def ts_order(ts: Any) -> tuple[int, float, str]:
    """A sort key for timestamps: numbers (and numeric strings) by value, other text as text.
    RecordError for a number (or numeric text: "inf", "NaN", 400 digits) that is not finite:
    no later record could be ordered after it."""
    try:
        x = float(ts)
    except (TypeError, ValueError):
        return (1, 0.0, str(ts))
    except OverflowError:  # an int beyond float's range
        x = math.inf
    if not math.isfinite(x):
        shown = "too large" if isinstance(ts, int) else ts[:40] if isinstance(ts, str) else ts
        raise RecordError(
            f"timestamp {shown!r} is not a finite number; give a finite number or an ISO-8601 time"
        )
    return (0, x, "")


def orderable(ts: Any) -> bool:
    """Can ``ts`` order records (a resumed key's last timestamp)?"""
    try:
        ts_order(ts)
    except RecordError:
        return False
    return True


def seconds_between(a: Any, b: Any) -> float | None:
    """b - a for numeric timestamps (their own units) or ISO-8601 ones (seconds); else None."""
    try:
        return float(b) - float(a)
    except (TypeError, ValueError):
        pass
    try:
        return (datetime.fromisoformat(str(b)) - datetime.fromisoformat(str(a))).total_seconds()
    except (TypeError, ValueError):
        return None


def order_of(record: Record, last: Any, resumed: Any, recent: Container[int]) -> str:
    """Where a record stands against its key's ``last`` timestamp: "ok" (after it, or no
    timestamp), "replayed" (inside the ``resumed`` checkpoint) or "duplicate" (its ``digest``
    is among the ``recent`` records'); RecordError when it is out of order.

    >>> import numpy as np
    >>> r = Record(key="a", timestamp=5, values=np.zeros(2, np.float32))
    >>> order_of(r, 4, None, set()), order_of(r, 7, 6, set()), order_of(r, 5, 2, {digest(r)})
    ('ok', 'replayed', 'duplicate')
    """
    if record.timestamp is None:
        return "ok"
    stamp = ts_order(record.timestamp)  # RecordError when it is not a finite number
    if last is None or stamp > ts_order(last):
        return "ok"
    if resumed is not None and stamp <= ts_order(resumed):
        return "replayed"
    if digest(record) in recent:
        return "duplicate"
    raise RecordError(
        f"timestamp {record.timestamp!r} is not after this key's last ({last!r}): "
        "out of order, or a repeat with other values"
    )
