"""Calendar features: where a timestamp falls in the day, the week and the year, as sin/cos pairs.

A model trained with ``--calendar hour,weekday`` takes two more input columns per kind (named
by ``column_names``, always the last of its features). Nobody types them in: training computes
them from each row's timestamp cell and the runtime from each record's timestamp, both with
``calendar_values`` below, so the values the graph sees live are the bits it was trained on.

Each kind is a cycle with a period and a phase origin (where its angle is 0, so sin = 0 and
cos = 1), all in UTC:

- ``hour``: the time of day; period 24 h; origin midnight (00:00 UTC).
- ``weekday``: the day of the week; period 7 days; origin Monday 00:00 UTC.
- ``yearday``: the day of the year; period the mean Gregorian year, 365.2425 days; origin
  1970-01-01T00:00Z (the epoch) and every mean year after it, which stays within a day of
  January 1 (56 mean years after the epoch is 2025-12-31T13:55Z, 10 h before 2026-01-01).

The angle is ``2 pi * (((t - origin) mod period) / period)`` in float64, for ``t`` in epoch
seconds; its sin and cos are the features (rounded to float32 by whoever stores them, like
every other feature value).

>>> column_names(("hour", "weekday"))
('hour_sin', 'hour_cos', 'weekday_sin', 'weekday_cos')
>>> t = parse_time("2026-01-05T06:00:00")          # a Monday, 06:00 UTC (naive = UTC)
>>> same = ("2026-01-05T07:00:00+01:00", "2026-01-05T06:00Z", 1767592800, "1767592800")
>>> [parse_time(v) == t for v in same]
[True, True, True, True]
>>> [round(v, 6) for v in calendar_values(t, ("hour", "weekday"))]   # a quarter day; 1/28 week
[1.0, 0.0, 0.222521, 0.974928]
>>> parse_time("yesterday")
Traceback (most recent call last):
...
edgernn.errors.RecordError: timestamp 'yesterday' is neither ISO-8601 time nor epoch seconds; ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from edgernn.errors import RecordError, UsageError

__all__ = [
    "KINDS",
    "calendar_values",
    "check_kinds",
    "column_names",
    "parse_time",
    "record_calendar",
    "with_calendar",
]

DAY = 86_400.0  # seconds
# kind -> (period, phase origin), both in seconds; origin in epoch seconds (UTC)
KINDS: dict[str, tuple[float, float]] = {
    "hour": (DAY, 0.0),  # time of day, 0 at midnight UTC
    "weekday": (7 * DAY, 4 * DAY),  # day of week, 0 at Monday 00:00 UTC (1970-01-05)
    "yearday": (365.2425 * DAY, 0.0),  # day of year (mean Gregorian year), 0 at 1970-01-01
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


def check_kinds(kinds: Sequence[str], option: str = "--calendar") -> tuple[str, ...]:
    """``kinds`` as a tuple; UsageError naming an unknown or repeated kind and the known ones.

    >>> check_kinds(["hour", "month"])
    Traceback (most recent call last):
    ...
    edgernn.errors.UsageError: --calendar: 'month' is not a calendar feature; choose from hour, ...
    """
    for k in kinds:
        if k not in KINDS:
            raise UsageError(
                f"{option}: {k!r} is not a calendar feature; choose from {', '.join(KINDS)}"
            )
        if list(kinds).count(k) > 1:
            raise UsageError(f"{option}: {k!r} is given twice; name each calendar feature once")
    return tuple(kinds)


def column_names(kinds: Sequence[str]) -> tuple[str, ...]:
    """The feature columns of ``kinds``: ``<kind>_sin``, ``<kind>_cos`` for each, in order."""
    return tuple(f"{k}_{part}" for k in kinds for part in ("sin", "cos"))


def parse_time(value: Any) -> float:
    """Epoch seconds (float) from ISO-8601 text (with an offset, or naive = UTC) or from epoch
    seconds given as a number or as numeric text; RecordError for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _text_time(value)
    else:
        what = "empty (null)" if value is None else f"a {type(value).__name__}"
        raise RecordError(
            f"timestamp is {what}, not a time; give ISO-8601 text like 2026-01-05T06:00:00Z "
            "or epoch seconds"
        )
    if not math.isfinite(seconds):
        raise RecordError(f"timestamp {value!r} is not a finite number of epoch seconds")
    return seconds


def _text_time(text: str) -> float:
    cell = text.strip()
    try:
        return float(cell)
    except ValueError:
        pass
    if cell[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read the Z suffix
        cell = cell[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(cell)
    except ValueError:
        raise RecordError(
            f"timestamp {text[:40]!r} is neither ISO-8601 time nor epoch seconds; "
            "give e.g. 2026-01-05T06:00:00Z or 1767592800"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    # exact whole microseconds, divided once: the correctly rounded float of the seconds
    return (t - _EPOCH) / _SECOND


def calendar_values(timestamp: float, kinds: Sequence[str]) -> list[float]:
    """sin, cos of each kind's angle at ``timestamp`` (epoch seconds), in float64.

    >>> calendar_values(0.0, ("hour", "yearday"))  # the epoch: the origin of both
    [0.0, 1.0, 0.0, 1.0]
    """
    out = []
    for k in kinds:
        period, origin = KINDS[k]
        angle = 2.0 * math.pi * (((timestamp - origin) % period) / period)
        out += [math.sin(angle), math.cos(angle)]
    return out


def record_calendar(
    x: Mapping[str, Any], kinds: Sequence[str], timestamp_field: str = "timestamp"
) -> list[float]:
    """``calendar_values`` at the record ``x``'s timestamp; RecordError when the timestamp is
    missing or not a time, or when ``x`` carries a calendar column itself (they are computed,
    never given).

    >>> record_calendar({"temp": 21.0, "timestamp": "1970-01-01T06:00Z"}, ("hour",))
    [1.0, 6.123233995736766e-17]
    """
    given = [n for n in column_names(kinds) if n in x]
    if given:
        one = len(given) == 1
        raise RecordError(
            f"{', '.join(given)} {'is' if one else 'are'} computed from the timestamp; "
            f"leave {'it' if one else 'them'} out of the record"
        )
    if timestamp_field not in x:
        raise RecordError(
            f"no {timestamp_field!r} field: this model computes its calendar features "
            f"({', '.join(kinds)}) from it; give every record one"
        )
    return calendar_values(parse_time(x[timestamp_field]), kinds)


def with_calendar(
    x: Mapping[str, Any], kinds: Sequence[str], timestamp_field: str = "timestamp"
) -> dict[str, Any]:
    """A copy of the record ``x`` with its calendar columns (``record_calendar``) added.

    >>> with_calendar({"temp": 21.0, "timestamp": 21600}, ("hour",))["hour_sin"]
    1.0
    """
    return {**x, **dict(zip(column_names(kinds), record_calendar(x, kinds, timestamp_field)))}
