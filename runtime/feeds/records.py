"""Turning raw stream input (JSON lines, CSV rows, dicts) into clean records, or a reason why not.

A bad record raises ``RecordError`` with a short reason; the stream counts it, sets it aside
and goes on. Only a problem that would make *every* record bad (a CSV header without a
feature column) is a ``DataError`` that stops the stream.

>>> p = RecordParser(features=("temp", "humidity"), key_field="sensor")
>>> r = p.parse_json('{"sensor": "a", "temp": 21.5, "humidity": 40}')
>>> r.key, r.values.tolist()
('a', [21.5, 40.0])
>>> p.parse_json('{"sensor": "a", "temp": NaN, "humidity": 40}')
Traceback (most recent call last):
...
edgernn.errors.RecordError: temp is not a finite number (nan)

CSV cells are text; a timestamp cell that reads as a finite number passes through as one,
so CSV and JSON input give the same output:

>>> CsvRows("timestamp,sensor,temp,humidity", p).parse("7,a,21.5,40").timestamp
7

A model with calendar features (``edgernn.calendar``) has their columns last in its features;
records do not carry them: they are computed from the record's timestamp, which it then needs:

>>> cal = RecordParser(("temp", "hour_sin", "hour_cos"), calendar=("hour",))
>>> cal.parse_json('{"temp": 21.5, "timestamp": "2026-01-05T06:00:00Z"}').values.round(6).tolist()
[21.5, 1.0, 0.0]
>>> cal.parse_json('{"temp": 21.5}')
Traceback (most recent call last):
...
edgernn.errors.RecordError: no 'timestamp' field: this model computes its calendar features ...
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.calendar import column_names, record_calendar
from edgernn.errors import DataError, RecordError
from edgernn.feeds.keys import key_id

MAX_LINE = 1 << 20  # a longer line is rejected unparsed (1 MiB)
F32_MAX = float(np.finfo(np.float32).max)  # larger values do not fit the model's float32


@dataclass(frozen=True)
class Record:
    key: str | None  # id of the series it belongs to (``edgernn.feeds.keys``); None: not keyed
    values: np.ndarray  # (F,) feature values in the model's feature order, user units
    timestamp: Any = None  # passed through to the output when present


@dataclass
class RecordParser:
    features: tuple[str, ...]  # the model's input columns, in order
    key_field: str | None = None  # field whose value names the series (one state per key)
    timestamp_field: str = "timestamp"  # optional field passed through untouched
    extra_allowed: tuple[str, ...] = ()  # other fields a record may carry (e.g. target columns)
    # calendar kinds: their columns end ``features`` and are computed from the timestamp
    calendar: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        computed = column_names(self.calendar)
        # the features a record carries itself (F - 2 * kinds)
        self.given = self.features[: len(self.features) - len(computed)]
        self._allowed = set(self.given) | set(self.extra_allowed) | {self.timestamp_field}
        if self.key_field:
            self._allowed.add(self.key_field)

    def parse_json(self, line: str) -> Record:
        if len(line) > MAX_LINE:
            raise RecordError(f"line longer than {MAX_LINE} bytes")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if _BINARY.search(line):
                raise RecordError("not text (binary data or control characters)") from None
            raise RecordError(f"not valid JSON ({e.msg})") from None
        except RecursionError:
            raise RecordError("not valid JSON (nested too deeply)") from None
        except ValueError:  # an integer beyond Python's int-from-str limit (4300 digits)
            raise RecordError(f"not valid JSON ({_HUGE_INT})") from None
        if not isinstance(obj, dict):
            raise RecordError(f"a record must be a JSON object, got {type(obj).__name__}")
        check_unique(line, obj)
        return self.parse_mapping(obj)

    def parse_mapping(self, obj: Mapping[str, Any], text: bool = False) -> Record:
        """Validate one record; ``text`` says values are CSV cells (strings), not JSON numbers."""
        extra = [k for k in obj if k not in self._allowed]
        if extra and not self.calendar:
            raise RecordError(
                f"unexpected field(s) {', '.join(map(repr, extra))}; "
                f"the model takes {', '.join(self.features)}"
            )
        calendar = (
            record_calendar(obj, self.calendar, self.timestamp_field) if self.calendar else []
        )
        if extra:  # a calendar model's record (its own calendar columns are refused above)
            raise RecordError(
                f"unexpected field(s) {', '.join(map(repr, extra))}; the model takes "
                f"{', '.join(self.given)} and a {self.timestamp_field!r} (for its calendar)"
            )
        missing = [f for f in self.given if f not in obj]
        if missing:
            raise RecordError(f"missing feature(s) {', '.join(missing)}")
        # (F,) the record's own features, then the calendar's
        values = np.array([_number(f, obj[f], text) for f in self.given] + calendar, np.float32)
        stamp = obj.get(self.timestamp_field)
        stamp = check_timestamp(_cell_value(stamp) if text else stamp, self.timestamp_field)
        return Record(self._key(obj), values, stamp)

    def _key(self, obj: Mapping[str, Any]) -> str | None:
        if not self.key_field:
            return None
        key = obj.get(self.key_field)
        if key is None or isinstance(key, (dict, list)) or key == "":
            raise RecordError(f"key field {self.key_field!r} is missing or not a plain value")
        try:
            return key_id(key)
        except ValueError:  # an int over 4300 digits (from a mapping source)
            raise RecordError(f"key field {self.key_field!r} is {_HUGE_INT}") from None


class CsvRows:
    """Parses CSV lines against the header line, into records for ``RecordParser``."""

    def __init__(self, header: str, parser: RecordParser):
        try:
            self.columns = next(csv.reader([header]))
        except csv.Error as e:
            raise DataError(
                f"the CSV header is not a valid CSV row ({e}); its first line must name the "
                "columns, or pass --format jsonl"
            ) from None
        self.parser = parser
        missing = [f for f in parser.given if f not in self.columns]
        if missing:
            raise DataError(
                f"CSV header has no column {', '.join(map(repr, missing))} "
                f"(it has {', '.join(self.columns)}); the model needs {', '.join(parser.given)}"
            )
        if parser.calendar and parser.timestamp_field not in self.columns:
            raise DataError(
                f"CSV header has no {parser.timestamp_field!r} column (it has "
                f"{', '.join(self.columns)}); the model computes its calendar features "
                f"({', '.join(parser.calendar)}) from it: add it, or name it with --timestamp"
            )
        extra = [c for c in self.columns if c not in parser._allowed]
        if extra:
            hint = _extra_hint(extra, parser, self.columns)
            raise DataError(
                f"CSV column(s) {', '.join(map(repr, extra))} are not inputs of the model; "
                f"keep only {', '.join(parser.given)} plus the key/timestamp columns{hint}"
            )

    def parse(self, line: str) -> Record:
        if len(line) > MAX_LINE:
            raise RecordError(f"line longer than {MAX_LINE} bytes")
        try:
            cells = next(csv.reader([line]))
        except csv.Error as e:
            raise RecordError(f"not a valid CSV row ({e})") from None
        if len(cells) != len(self.columns):
            raise RecordError(f"{len(cells)} cells, the header has {len(self.columns)}")
        return self.parser.parse_mapping(dict(zip(self.columns, cells)), text=True)


def _extra_hint(extra: list[str], parser: RecordParser, columns: list[str]) -> str:
    """For one extra column while the key (or timestamp) column is absent: the option it may be."""
    if len(extra) != 1:
        return ""
    name = extra[0]
    if re.search(r"time|date|^ts$", name, re.IGNORECASE) and parser.timestamp_field not in columns:
        return f" (is {name!r} the timestamp? pass --timestamp {name})"
    if parser.key_field is None or parser.key_field not in columns:
        return f" (is {name!r} the key? pass --key {name})"
    return ""


_INT = re.compile(r"\s*[+-]?\d+\s*")
# control characters, undecodable bytes (U+FFFD, or surrogates from surrogateescape)
_BINARY = re.compile("[\x00-\x08\x0a-\x1f\x7f\ufffd\ud800-\udfff]")
_HUGE_INT = "an integer over 4300 digits"


_NAME = re.compile(r'"\s*:')  # ends every member name of a JSON object (and maybe more)


def check_unique(line: str, obj: dict[str, Any]) -> None:
    """RecordError when an object in ``line`` (parsed: ``obj``) names a field twice: which
    value is meant? Only a line with more member names than ``obj`` has fields is parsed again.

    >>> check_unique('{"temp": 1, "temp": 2}', {"temp": 2})
    Traceback (most recent call last):
    ...
    edgernn.errors.RecordError: field 'temp' appears twice; send each field once
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for name, _ in items:
            if name in seen:
                raise RecordError(f"field {name[:40]!r} appears twice; send each field once")
            seen.add(name)
        return dict(items)

    if len(_NAME.findall(line)) > len(obj):  # a name twice? (or '":' inside a string)
        json.loads(line, object_pairs_hook=pairs)


def check_timestamp(ts: Any, name: str = "timestamp") -> Any:
    """``ts`` as it is, or RecordError when its output line would not be JSON: a number that is
    not finite (or an int beyond float's range), or a list/object holding one. Text passes as
    text (the stream refuses text that reads as a non-finite number: it cannot order records).

    >>> check_timestamp(7), check_timestamp("nan"), check_timestamp(None)
    (7, 'nan', None)
    >>> check_timestamp(float("inf"))
    Traceback (most recent call last):
    ...
    edgernn.errors.RecordError: timestamp is not a finite number (inf)
    """
    if ts is None or isinstance(ts, bool):
        return ts
    if isinstance(ts, (list, dict)):
        try:
            json.dumps(ts, allow_nan=False)
        except ValueError:
            raise RecordError(f"{name} holds a number that is not finite") from None
        return ts
    if isinstance(ts, str) and re.search("[\ud800-\udfff]", ts):
        raise RecordError(f"{name} {ts[:40]!r} is not valid UTF-8")
    if not isinstance(ts, (int, float)):
        return ts
    try:
        x = float(ts)
    except OverflowError:  # an int beyond float's range
        raise RecordError(f"{name} is not a finite number (too large)") from None
    if not math.isfinite(x):
        raise RecordError(f"{name} is not a finite number ({_shown(ts)})")
    return ts


def _shown(v: Any) -> str:
    """``v`` as text for a message, at most 40 characters."""
    try:
        return str(v)[:40]
    except ValueError:  # an int over 4300 digits
        return _HUGE_INT


def _cell_value(cell: Any) -> Any:
    """A CSV cell as an int or float when it reads as a finite number, else as it is (text)."""
    if not isinstance(cell, str) or "_" in cell:
        return cell
    if _INT.fullmatch(cell):
        try:
            return int(cell)
        except ValueError:  # over 4300 digits: text (the stream refuses it: not finite)
            return cell
    try:
        x = float(cell)
    except ValueError:
        return cell
    return x if math.isfinite(x) else cell


def _number(name: str, v: Any, text: bool) -> float:
    """A finite float from a JSON number or (``text``) a CSV cell; RecordError otherwise."""
    if isinstance(v, bool) or not isinstance(v, (str,) if text else (int, float)):
        raise RecordError(f"{name} is not a number ({type(v).__name__})")
    try:
        x = float(v)
    except (ValueError, OverflowError):
        raise RecordError(f"{name} is not a number ({_shown(v)!r})") from None
    if not math.isfinite(x) or abs(x) > F32_MAX:
        raise RecordError(f"{name} is not a finite number ({_shown(v)})")
    return x


def sniff_format(first_line: str, parser: RecordParser | None = None) -> str | None:
    """ "jsonl" when the first non-blank line looks like a JSON object, "csv" when it can be a
    CSV header, None when it is neither (binary data, a JSON array, a broken CSV row, or, given
    the ``parser``, a row naming none of its fields): that line is a bad record, and the next
    line decides.

    >>> sniff_format('{"temp": 1}'), sniff_format("temp,humidity"), sniff_format("\\x00\\x9b")
    ('jsonl', 'csv', None)
    >>> sniff_format("1,20.5,40", RecordParser(("temp", "humidity")))  # data, not a header
    """
    if first_line.lstrip().startswith("{"):
        return "jsonl"
    if _BINARY.search(first_line) or first_line.lstrip().startswith("["):  # a JSON array
        return None
    try:
        cells = next(csv.reader([first_line]))
    except csv.Error:
        return None
    if parser is not None and not parser._allowed & {c.strip() for c in cells}:
        return None
    return "csv"
