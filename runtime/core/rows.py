"""One step's input, checked: the feature values in order, from a mapping, a sequence or an array.

``Stream``, ``WindowStream`` and ``Pool`` take a row as a mapping of feature -> value or as the
values in feature order. Their fast paths take the usual inputs as they come (Python floats all
the way); anything else, and every malformed row, goes through the checks here, which raise a
``DataError`` that says what is wrong.

>>> row_values({"temp": 21.0, "humidity": 50}, ("temp", "humidity"))
[21.0, 50.0]
>>> row_values({"temp": 21.0}, ("temp", "humidity"))
Traceback (most recent call last):
...
edgernn.errors.DataError: input is missing feature(s) humidity; every step needs temp, humidity
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgernn.errors import DataError

NOT_FINITE = "inputs contain NaN or inf; drop or fill those values before streaming them"
FAST_ARRAYS = (np.dtype(np.float32), np.dtype(np.float64))  # 1-D rows of these take the fast path

Row = Mapping[str, float] | Sequence[float] | np.ndarray  # one step's input, as the APIs take it


def mapped(x: Mapping[str, Any], features: Sequence[str]) -> list[Any]:
    """The values of ``x`` in feature order; DataError naming the features it lacks."""
    missing = [f for f in features if f not in x]
    if missing:
        raise DataError(
            f"input is missing feature(s) {', '.join(missing)}; "
            f"every step needs {', '.join(features)}"
        )
    return [x[f] for f in features]


def row_values(x: Mapping[str, float] | Sequence[float], features: Sequence[str]) -> list[float]:
    """One row as Python floats in feature order; DataError when values are missing or the
    count is wrong (finiteness is the caller's check)."""
    if isinstance(x, Mapping):
        return [float(v) for v in mapped(x, features)]
    values = [float(v) for v in x]
    if len(values) != len(features):
        raise DataError(
            f"expected {len(features)} values ({', '.join(features)}), got {len(values)}"
        )
    return values


def checked_row(x: Row, features: Sequence[str]) -> np.ndarray:
    """One row as a float32 array (F,); DataError when it is missing values, has the wrong
    count, or holds NaN or inf."""
    if isinstance(x, Mapping):
        values = mapped(x, features)
    else:
        values = list(np.asarray(x, dtype=np.float64).reshape(-1))
    row = np.asarray(values, dtype=np.float32)
    if row.shape != (len(features),):
        raise DataError(f"expected {len(features)} values ({', '.join(features)}), got {row.size}")
    if not np.isfinite(row).all():
        raise DataError(NOT_FINITE)
    return row


def fast_values(x: Any, features: Sequence[str]) -> Sequence[Any] | None:
    """The row's values in feature order for the usual inputs (a list, tuple, mapping or 1-D
    array of the right length); None for anything else, which takes the checked path."""
    if isinstance(x, np.ndarray):
        x = x.tolist() if x.ndim == 1 else None
    elif isinstance(x, Mapping):
        try:
            x = [x[f] for f in features]
        except KeyError:
            return None
    elif not isinstance(x, (list, tuple)):
        return None
    return x if x is not None and len(x) == len(features) else None


def row_lists(rows: Any, n: int, F: int) -> list[Any] | None:
    """``rows`` as n rows of F numbers (lists, tuples or 1-D float arrays), or None."""
    if type(rows) is np.ndarray:
        return rows.tolist() if rows.shape == (n, F) and rows.dtype in FAST_ARRAYS else None
    if (type(rows) is not list and type(rows) is not tuple) or len(rows) != n:
        return None
    out = []
    for row in rows:
        kind = type(row)
        if kind is np.ndarray:
            if row.shape != (F,) or row.dtype not in FAST_ARRAYS:
                return None
            row = row.tolist()
        elif (kind is not list and kind is not tuple) or len(row) != F:
            return None
        out.append(row)
    return out
