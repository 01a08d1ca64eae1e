"""Loading training data: a CSV with a header, a 2-D .npy, or ``synth:sensor``; then series by key.

Everything becomes a ``Table`` (named columns, one row per time step), then a list of
``Series`` (one per key value, sorted by the timestamp column when there is one) holding
the feature and target columns in user units. Bad data is refused, never guessed at: a
missing column, a non-numeric, empty, NaN or infinite cell in a feature or target column
raises a one-line DataError naming the row and the column.

>>> t = load_table("synth:sensor?n=300&seed=1")
>>> t.names, t.n_rows
(('temp', 'humidity'), 300)
>>> [s.x.shape for s in to_series(t, ("temp", "humidity"), ("temp",))]
[(300, 2)]
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from edgernn.calendar import calendar_values, column_names, parse_time
from edgernn.errors import DataError, RecordError, UsageError
from edgernn.feeds.synth import COLUMNS as SYNTH_COLUMNS
from edgernn.feeds.synth import sensor_signal

SYNTH_DEFAULTS = {"n": 10_000, "seed": 0}


@dataclass
class Table:
    """Named columns of equal length: raw strings (CSV) or numbers (.npy, synth)."""

    names: tuple[str, ...]  # column names, in file order
    columns: dict[str, Sequence]  # name -> N raw values
    where: str  # how errors name the source, e.g. "sensors.csv"
    lines: list[int] | None = None  # CSV line number of each row (errors say "line L")
    source: dict = field(default_factory=dict)  # provenance: kind, path, sha256, rows

    @property
    def n_rows(self) -> int:
        return len(self.columns[self.names[0]]) if self.names else 0

    def row_name(self, i: int) -> str:
        """``"sensors.csv line 12"`` or ``"data.npy row 11"`` for row index ``i``."""
        return (
            f"{self.where} line {self.lines[i]}"
            if self.lines is not None
            else f"{self.where} row {i}"
        )

    def require(self, name: str, option: str) -> None:
        """DataError naming ``name`` and the columns there are, if the table lacks it."""
        if name not in self.columns:
            have = ", ".join(self.names)
            raise DataError(
                f"{self.where} has no column {name!r} (from {option}); its columns are: {have}"
            )


@dataclass
class Series:
    """One independent series (one key value), in time order, in user units."""

    key: str  # the key value ("" when there is no key column)
    x: np.ndarray  # (N, F) feature columns
    y: np.ndarray  # (N, K) target columns


def load_table(source: str, columns: Sequence[str] = ()) -> Table:
    """Read ``source``: "synth:sensor[?n=..&seed=..]", a .npy path (named by ``columns``), or a
    CSV path."""
    if source.startswith("synth:"):
        return _synth_table(source)
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"data file {source!r} does not exist; pass a .csv or .npy path, or synth:sensor"
        )
    if path.suffix.lower() == ".npy":
        return _npy_table(path, tuple(columns))
    if columns:
        raise UsageError(
            f"--columns names the columns of a .npy file; {source!r} is a CSV with its own header"
        )
    return _csv_table(path)


def _source(kind: str, path: Path) -> dict:
    return {
        "kind": kind,
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _synth_table(source: str) -> Table:
    parts = urlsplit(source)
    if parts.path != "sensor":
        raise UsageError(
            f"--data {source!r}: unknown synthetic source {parts.path!r}; use synth:sensor"
        )
    params = dict(SYNTH_DEFAULTS)
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k not in params or not v.isdigit():
            raise UsageError(
                f"--data {source!r}: bad parameter {k}={v!r}; use synth:sensor?n=20000&seed=3"
            )
        params[k] = int(v)
    signal = sensor_signal(params["n"], seed=params["seed"])
    cols = {c: signal[c].astype(np.float64) for c in SYNTH_COLUMNS}
    return Table(SYNTH_COLUMNS, cols, source, source={"kind": "synth", "name": "sensor", **params})


def _npy_table(path: Path, columns: tuple[str, ...]) -> Table:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(
            f"{path} is not a readable .npy array ({e}); save it with numpy.save"
        ) from e
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise DataError(
            f"{path} holds a {a.ndim}-D {a.dtype} array; save a 2-D numeric array (rows = time "
            "steps)"
        )
    names = columns or tuple(f"col{i}" for i in range(a.shape[1]))
    if len(names) != a.shape[1]:
        raise UsageError(
            f"--columns gives {len(names)} names but {path} has {a.shape[1]} columns; name each "
            "once"
        )
    cols = {n: a[:, i].astype(np.float64) for i, n in enumerate(names)}
    return Table(names, cols, str(path), source={**_source("npy", path), "rows": len(a)})


def _csv_table(path: Path) -> Table:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows, lines = _csv_rows(reader, path, len(header))
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not a UTF-8 text CSV ({e.reason}); pass a CSV or a .npy file"
        ) from e
    except csv.Error as e:
        raise DataError(f"{path} is not a well-formed CSV ({e}); fix the file") from e
    if not header or not any(header):
        raise DataError(f"{path} is empty; the first line must be a header naming the columns")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or "" in header:
        raise DataError(
            f"{path} header has empty or repeated column names ({', '.join(dupes) or 'empty'}); "
            "name each column once"
        )
    cols = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    return Table(tuple(header), cols, str(path), lines, {**_source("csv", path), "rows": len(rows)})


def _csv_rows(
    reader: Iterator[list[str]], path: Path, width: int
) -> tuple[list[list[str]], list[int]]:
    rows, lines = [], []
    for row in reader:
        if not row:  # blank line
            continue
        if len(row) != width:
            raise DataError(
                f"{path} line {reader.line_num} has {len(row)} cells but the header has {width}; "
                "fix that row"
            )
        rows.append(row)
        lines.append(reader.line_num)
    return rows, lines


def numeric_column(table: Table, name: str) -> np.ndarray:
    """``name`` as float64 (N,); DataError at the first cell that is not a finite number."""
    raw = table.columns[name]
    try:
        values = np.asarray(raw, dtype=np.float64)
    except ValueError:
        values = np.array([_to_float(v) for v in raw])
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{table.row_name(i)}, column {name!r}: {raw[i]!r} is not a finite number; "
            "training data must be clean, so fix or remove that row"
        )
    return values


def _to_float(v: object) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def time_column(table: Table, name: str) -> np.ndarray:
    """Timestamps as float64 (N,): numbers as they are, ISO-8601 strings as UTC seconds."""
    raw = table.columns[name]
    try:
        return np.asarray(raw, dtype=np.float64)
    except ValueError:
        pass
    out = np.empty(len(raw))
    for i, v in enumerate(raw):
        try:
            t = datetime.fromisoformat(str(v).strip())
        except ValueError:
            raise DataError(
                f"{table.row_name(i)}, column {name!r}: {v!r} is neither a number nor an ISO-8601 "
                "time; fix that row"
            ) from None
        out[i] = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    return out


def to_series(
    table: Table,
    features: Sequence[str],
    targets: Sequence[str],
    key: str | None = None,
    timestamp: str | None = None,
) -> list[Series]:
    """Check the columns, convert them, and cut the table into series (by key, in time order)."""
    for names, option in ((features, "--features"), (targets, "--target")):
        for n in names:
            table.require(n, option)
    for n, option in ((key, "--key"), (timestamp, "--timestamp")):
        if n is not None:
            table.require(n, option)
    x = np.stack([numeric_column(table, n) for n in features], axis=1)  # (N, F)
    y = np.stack([numeric_column(table, n) for n in targets], axis=1)  # (N, K)
    groups = _groups(table, key)
    if timestamp is not None:
        t = time_column(table, timestamp)
        groups = [(k, idx[np.argsort(t[idx], kind="stable")]) for k, idx in groups]
    return [Series(k, x[idx], y[idx]) for k, idx in groups]


def _groups(table: Table, key: str | None) -> list[tuple[str, np.ndarray]]:
    """(key value, row indices in file order) per series, in order of first appearance."""
    if key is None:
        return [("", np.arange(table.n_rows))]
    keys = np.asarray([str(v).strip() for v in table.columns[key]])
    empty = np.flatnonzero(keys == "")
    if empty.size:
        raise DataError(
            f"{table.row_name(int(empty[0]))}, column {key!r} (--key) is empty; give every row a "
            "key"
        )
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rows = np.argsort(inverse, kind="stable")  # rows grouped by key, file order within
    bounds = np.cumsum(np.bincount(inverse, minlength=len(uniq)))
    per_key = np.split(rows, bounds[:-1])
    return [(str(uniq[j]), per_key[j]) for j in order]


def add_calendar(table: Table, timestamp: str | None, kinds: Sequence[str]) -> tuple[str, ...]:
    """Add the calendar columns of ``kinds`` (``edgernn.calendar``), computed from each row's raw
    ``timestamp`` cell with the function the runtime uses, to ``table``; their names.

    >>> t = Table(("t", "temp"), {"t": ["2026-01-05T06:00:00", "1767592800"], "temp": [1, 2]}, "x")
    >>> add_calendar(t, "t", ("hour",)), t.columns["hour_sin"].round(9).tolist()
    (('hour_sin', 'hour_cos'), [1.0, 1.0])
    """
    names = column_names(kinds)
    if not names:
        return ()
    if timestamp is None:
        raise UsageError("--calendar is computed from each row's time; name it with --timestamp")
    table.require(timestamp, "--timestamp")
    taken = [n for n in names if n in table.columns]
    if taken:
        raise DataError(
            f"{table.where} already has column(s) {', '.join(taken)}, which --calendar computes; "
            "rename them or leave --calendar out"
        )
    rows = []  # (N, 2 * kinds) float64
    for i, cell in enumerate(table.columns[timestamp]):
        try:
            rows.append(calendar_values(parse_time(cell), kinds))
        except RecordError as e:
            raise DataError(
                f"{table.row_name(i)}, column {timestamp!r} (--timestamp): {e}"
            ) from None
    values = np.array(rows, dtype=np.float64).reshape(-1, len(names))
    for j, n in enumerate(names):
        table.columns[n] = values[:, j]
    table.names += names
    return names
