"""The signature's scalers for an imported model: Keras models carry none, so they come from
``--scaler minmax|standard`` fitted on ``--scale-from CSV`` and/or given per column with
``--scale name:a:b,...`` (minmax: min and max; standard: mean and std).

>>> x, y = scalers("minmax", ("temp",), ("temp",), scale="temp:10:30")
>>> x.offset, x.scale, x.transform([[20.0]]).tolist()
((10.0,), (20.0,), [[0.5]])
>>> scalers("none", ("a", "b"), ("a",))[0].kind
'none'
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgernn.errors import DataError, UsageError
from edgernn.scaler import Scaler

KINDS = ("none", "minmax", "standard")


def scalers(
    kind: str,
    features: tuple[str, ...],
    targets: tuple[str, ...],
    *,
    scale_from: str | Path | None = None,
    scale: str | None = None,
) -> tuple[Scaler, Scaler]:
    """(input scaler over ``features``, target scaler over ``targets``)."""
    if kind not in KINDS:
        raise UsageError(f"--scaler {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "none":
        if scale_from or scale:
            raise UsageError("--scale-from / --scale need --scaler minmax or --scaler standard")
        return Scaler.identity(len(features)), Scaler.identity(len(targets))
    columns = dict(_fitted(kind, scale_from, (*features, *targets))) if scale_from else {}
    columns.update(_given(scale or "", kind))
    missing = [c for c in dict.fromkeys((*features, *targets)) if c not in columns]
    if missing:
        raise UsageError(
            f"--scaler {kind} has no scale for {', '.join(missing)}; fit it with --scale-from "
            f"CSV (a file with these columns) or give it with --scale {missing[0]}:a:b"
        )

    def make(names: tuple[str, ...]) -> Scaler:
        return Scaler(
            kind,
            tuple(columns[n][0] for n in names),
            tuple(columns[n][1] for n in names),
        )

    return make(features), make(targets)


def _given(text: str, kind: str) -> dict[str, tuple[float, float]]:
    """``name:a:b,...`` as {name: (offset, scale)}."""
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        parts = item.rsplit(":", 2)
        try:
            a, b = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            what = "min:max" if kind == "minmax" else "mean:std"
            raise UsageError(
                f"--scale {item!r} is not name:{what} with two numbers, e.g. temp:10:30"
            ) from None
        spread = b - a if kind == "minmax" else b
        if not spread > 0:
            raise UsageError(f"--scale {item!r} spans nothing; the second number must be larger")
        out[parts[0]] = (a, spread)
    return out


def _fitted(kind: str, path: str | Path, names: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Each named column of the CSV fitted: (min, max - min) or (mean, std)."""
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = list(reader)
    except OSError as e:
        raise DataError(
            f"--scale-from {str(path)!r} cannot be read ({e.strerror}); check the path"
        ) from e
    out = {}
    for name in dict.fromkeys(names):
        if name not in header:
            continue  # may come from --scale; missing ones are named by the caller
        j = header.index(name)
        try:
            values = np.array([float(r[j]) for r in rows if len(r) > j and r[j].strip()])
        except ValueError as e:
            raise DataError(
                f"--scale-from {str(path)!r}: column {name!r} has a non-number ({e})"
            ) from e
        if values.size == 0:
            raise DataError(f"--scale-from {str(path)!r}: column {name!r} has no values")
        if kind == "minmax":
            lo, spread = float(values.min()), float(values.max() - values.min())
        else:
            lo, spread = float(values.mean()), float(values.std())
        out[name] = (lo, spread if spread > 0 else 1.0)
    return out
