"""From series to training windows: chronological split, scalers fitted on train, sliding windows.

Each series is split by time (first ``train_frac`` of its rows, then ``val_frac``, then the
rest), so no window ever crosses a key or a split boundary. A window of length T is cut
from T + 1 consecutive rows: the model reads the features of rows 0..T-1 and must forecast
the targets of rows 1..T (many-to-many, from a zero state).

>>> a = np.arange(10.0).reshape(5, 2)          # (N=5, C=2)
>>> w = sliding_windows(a, length=3, stride=2)  # (W, T, C)
>>> w.shape, w[1, 0].tolist()
((2, 3, 2), [4.0, 5.0])
>>> split_bounds(100, 0.15, 0.15)
(70, 85)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from edgernn.errors import DataError
from edgernn.signature import Scaler
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.data import Series, Table, add_calendar, load_table, to_series
from edgernn.train.forecast.plan import Plan, decide

PARTS = ("train", "val", "test")


@dataclass
class Windows:
    """The windows of one split, ready for the model and for the report."""

    x: np.ndarray  # (W, T, F) features, model units (input scaler), float32
    y: np.ndarray  # (W, T, K) next-step targets, model units (target scaler), float32
    current: np.ndarray  # (W, K) target at the window's last step, user units (the naive forecast)
    actual: np.ndarray  # (W, K) target one step after the window, user units (what is forecast)
    series: np.ndarray | None = None  # (W,) index of the series (key) each window was cut from
    burn: int = 0  # leading steps of each window that only fill the highway's lags (no loss)

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Dataset:
    """Everything training and the report need from the data."""

    features: tuple[str, ...]  # input columns, in model order
    targets: tuple[str, ...]  # forecast columns, in model order
    input_scaler: Scaler  # fitted on the training rows of the features
    target_scaler: Scaler  # fitted on the training rows of the targets
    parts: dict[str, Windows]  # "train" / "val" / "test" -> its windows
    rows: dict[str, int]  # rows per split, summed over series
    n_series: int  # independent series (key values)
    source: dict  # provenance of the data: kind, path, sha256, rows
    plan: Plan | None = None  # season, lags and target mode (edgernn.train.forecast.plan)
    series: list[Series] = field(default_factory=list)  # every series whole, user units
    bounds: list[tuple[int, int]] = field(default_factory=list)  # per series: (val, test) start

    def scaled(self, i: int) -> np.ndarray:
        """Series ``i``'s features, model units (N, F) float32."""
        return self.input_scaler.transform(self.series[i].x)

    def train_targets(self) -> list[np.ndarray]:
        """Each series' training rows of the targets, model units (N, K)."""
        return [self.target_scaler.transform(s.y[: b[0]]) for s, b in zip(self.series, self.bounds)]


def sliding_windows(a: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """(N, C) -> (W, length, C) with window i, step t = a[i * stride + t]; W = 0 if N < length."""
    if len(a) < length:
        return np.empty((0, length) + a.shape[1:], dtype=a.dtype)
    view = np.lib.stride_tricks.sliding_window_view(a, length, axis=0)  # (N-length+1, C, length)
    return np.moveaxis(view[::stride], -1, 1)


def split_bounds(n: int, val_frac: float, test_frac: float) -> tuple[int, int]:
    """Row indices (a, b): train = [0, a), val = [a, b), test = [b, n)."""
    n_val = int(np.floor(n * val_frac + 1e-9))
    n_test = int(np.floor(n * test_frac + 1e-9))
    return n - n_val - n_test, n - n_test


def fit_scaler(values: np.ndarray, kind: str) -> Scaler:
    """Fit a Scaler on (N, C) values: "standard" (mean, std) or "minmax" (min, max-min); 0 scale
    -> 1."""
    v = np.asarray(values, dtype=np.float64)
    if kind == "standard":
        offset, scale = v.mean(axis=0), v.std(axis=0)
    elif kind == "minmax":
        offset, scale = v.min(axis=0), v.max(axis=0) - v.min(axis=0)
    else:
        raise ValueError(f"unknown scaler kind {kind!r}")
    scale = np.where(scale > 0, scale, 1.0)
    return Scaler(kind, tuple(float(o) for o in offset), tuple(float(s) for s in scale))


def make_windows(
    series: list[Series],
    rows: list[slice],
    window: int,
    stride: int,
    sx: Scaler,
    sy: Scaler,
    burn: int = 0,
) -> Windows:
    """Windows of length ``window`` over ``rows`` of each series, never across series; with
    ``burn``, each window is that many steps longer at its start (steps that only fill the
    highway's lags)."""
    window += burn
    f, k = series[0].x.shape[1], series[0].y.shape[1]
    cut = []
    for s, r in zip(series, rows):
        # (n, F+2K)
        joined = np.concatenate([sx.transform(s.x[r]), sy.transform(s.y[r]), s.y[r]], axis=1)
        cut.append(sliding_windows(joined, window + 1, stride))  # (w, T+1, F+2K)
    w = np.concatenate(cut) if cut else np.empty((0, window + 1, f + 2 * k))
    return Windows(
        x=np.ascontiguousarray(w[:, :window, :f], dtype=np.float32),
        y=np.ascontiguousarray(w[:, 1:, f : f + k], dtype=np.float32),
        current=w[:, window - 1, f + k :].astype(np.float64),
        actual=w[:, window, f + k :].astype(np.float64),
        series=np.repeat(np.arange(len(cut)), [len(c) for c in cut]),
        burn=burn,
    )


def prepare_data(cfg: TrainConfig) -> Dataset:
    """Load ``cfg.data``, split each series by time, fit scalers on train, cut the windows."""
    table = load_table(cfg.data, cfg.columns)
    features = cfg.features or tuple(n for n in table.names if n not in (cfg.key, cfg.timestamp))
    targets = cfg.targets or features[:1]
    features += add_calendar(table, cfg.timestamp, cfg.calendar)  # the last features, if any
    _check_numeric(table, features, targets, cfg)
    series = to_series(table, features, targets, cfg.key, cfg.timestamp)
    slices = {p: [] for p in PARTS}
    for s in series:
        a, b = split_bounds(len(s.x), cfg.val_frac, cfg.test_frac)
        for p, r in zip(PARTS, (slice(0, a), slice(a, b), slice(b, None))):
            slices[p].append(r)
    plan = decide(cfg, series, slices["train"], features, targets)
    # windows mode: each window first fills the highway's lags
    burn = max(plan.lags, default=0) if plan.train_mode == "windows" else 0
    _check_enough(series, slices, cfg, plan.train_mode, plan.window, burn)
    sx = fit_scaler(np.concatenate([s.x[r] for s, r in zip(series, slices["train"])]), cfg.scaler)
    sy = fit_scaler(np.concatenate([s.y[r] for s, r in zip(series, slices["train"])]), cfg.scaler)
    if plan.target_cols:  # the highway reads targets from the inputs: one unit for both
        sy = Scaler(
            sx.kind,
            tuple(sx.offset[c] for c in plan.target_cols),
            tuple(sx.scale[c] for c in plan.target_cols),
        )
    parts = {
        p: make_windows(series, slices[p], plan.window, cfg.stride, sx, sy, burn) for p in PARTS
    }
    rows = {p: sum(len(s.x[r]) for s, r in zip(series, slices[p])) for p in PARTS}
    bounds = [(v.start, t.start) for v, t in zip(slices["val"], slices["test"])]
    return Dataset(
        features,
        targets,
        sx,
        sy,
        parts,
        rows,
        len(series),
        table.source or {"path": cfg.data},
        plan,
        series,
        bounds,
    )


def _check_enough(
    series: list[Series],
    slices: dict[str, list[slice]],
    cfg: TrainConfig,
    mode: str,
    window: int,
    burn: int = 0,
) -> None:
    """DataError unless some series has enough rows in every split: validation and test are
    streamed (a row each will do); training needs a chunk (stateful: --bptt + 1 rows) or a
    window (T + 1 rows, plus the burn-in that fills the highway's lags)."""
    stateful = mode == "stateful"
    for p, rows in slices.items():
        need = 1 if p != "train" else cfg.bptt + 1 if stateful else window + burn + 1
        if any(len(s.x[r]) >= need for s, r in zip(series, rows)):
            continue
        n = max(len(s.x) for s in series)
        a, b = split_bounds(n, cfg.val_frac, cfg.test_frac)
        fix = "a smaller --bptt" if stateful else "a smaller --window"
        raise DataError(
            f"too few rows: the {p} split needs {need} consecutive row{'s' * (need != 1)} "
            f"(longest series: {n} rows = {a} train / {b - a} val / {n - b} test); "
            f"use more data, {fix + ', ' if p == 'train' else ''}or {_larger_split(p)}"
        )


def _larger_split(part: str) -> str:
    """The fraction change that lengthens ``part``: the train split grows when val/test shrink."""
    return {
        "train": "smaller --val/--test fractions (more rows for training)",
        "val": "a larger --val fraction",
        "test": "a larger --test fraction",
    }[part]


def _check_numeric(
    table: Table, features: tuple[str, ...], targets: tuple[str, ...], cfg: TrainConfig
) -> None:
    """DataError naming the likely option when a feature or target column holds no number at all:
    such a column is a key or a time column, not data with a bad cell."""
    for name in dict.fromkeys(features + targets):
        raw = table.columns.get(name)
        if raw is None or isinstance(raw, np.ndarray) or not len(raw) or any(map(_is_number, raw)):
            continue
        fixes = []
        if cfg.timestamp is None and _is_time(raw[0]):
            fixes.append(f"if it is the time, pass --timestamp {name}")
        elif cfg.key is None:
            fixes.append(f"if it names the series, pass --key {name}")
        rest = [f for f in features if f != name]
        fixes.append(
            f"choose the inputs with --features {','.join(rest)}"
            if rest and not cfg.features
            else "leave it out of --features/--target"
        )
        raise DataError(
            f"{table.where}: column {name!r} holds no numbers (first value {raw[0]!r}), so it "
            "cannot be "
            f"a {'feature' if name in features else 'target'}; {', or '.join(fixes)}"
        )


def _is_number(cell: object) -> bool:
    try:
        return math.isfinite(float(cell))
    except (TypeError, ValueError):
        return False


def _is_time(cell: object) -> bool:
    try:
        datetime.fromisoformat(str(cell).strip())
    except ValueError:
        return False
    return True
