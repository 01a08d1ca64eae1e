"""What a forecaster is built as, decided from the settings and the training split: the season,
the highway's lags, and whether it forecasts levels or changes. Every choice says why, so the
report can tell the user.

>>> from edgernn.train.forecast.data import Series
>>> t = np.arange(300.0)
>>> v = np.stack([np.sin(t / 12 * 2 * np.pi) + 0.05 * t], axis=1)  # (N, 1)
>>> s = Series("", v, v)
>>> p = decide(TrainConfig(data="x.csv"), [s], [slice(0, 210)], ("v",), ("v",))
>>> p.season, p.lags, p.target_mode, p.train_mode, p.window   # 210 training rows: short
(12, (1, 2, 12, 13), 'delta', 'windows', 49)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgernn.errors import DataError, UsageError
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.data import Series
from edgernn.train.forecast.season import TREND, detect_season, season_lags, trend_ratio

# --train-mode auto trains statefully from this many training rows (all series together), and on
# windows below it. Measured with the defaults (benchmarks/QUALITY.md, 2026-12-05): on short
# series (wine sales, 123 training rows, to El Nino, 512) the shuffled overlapping windows give
# many more optimizer steps and a batch of different stretches, and came out ahead (El Nino: 0.89
# of the seasonal autoregression's MAE against 0.92 stateful); on 2,800 training rows of
# half-hourly electricity stateful training was both better (0.86 against 0.95) and 10x faster.
STATEFUL_ROWS = 1000
WINDOW = 50  # --window 0 (auto): this, or a quarter of a short training split
MIN_WINDOW = 8  # ... but never shorter than this


@dataclass(frozen=True)
class Plan:
    """The data-dependent shape of the model."""

    season: int | None  # s in steps (None: no season)
    season_source: str  # "given" (--season N), "detected" (autocorrelation), "none"
    target_cols: tuple[int, ...]  # each target's feature column (() when a target is no input)
    lags: tuple[int, ...]  # the highway's lags; () = no highway
    target_mode: str  # "level" or "delta"
    train_mode: str  # "stateful" or "windows"
    window: int  # steps per training window (--window, or auto_window)
    trend: float  # trend_ratio of the first target's training rows
    notes: tuple[str, ...] = ()  # why a setting was not followed, for the report


def decide(
    cfg: TrainConfig,
    series: Sequence[Series],
    train_rows: Sequence[slice],
    features: Sequence[str],
    targets: Sequence[str],
) -> Plan:
    """The plan for ``cfg`` on these series (``train_rows``: each series' training slice)."""
    longest = max(range(len(series)), key=lambda i: len(series[i].y[train_rows[i]]))
    first = series[longest].y[train_rows[longest], 0]  # (N,) the first target's training rows
    season, source = _season(cfg, first)
    notes: list[str] = []
    cols = tuple(features.index(t) for t in targets if t in features)
    in_inputs = len(cols) == len(targets)
    highway = cfg.highway and in_inputs and not cfg.bidirectional
    if cfg.highway and cfg.bidirectional:
        notes.append("no highway: a window model (--bidirectional) has no state to keep lags in")
    elif cfg.highway and not in_inputs:
        if cfg.arch == "linear" or cfg.target_mode == "delta":
            raise UsageError(
                f"--arch linear and --target-mode delta read the targets from the inputs; add "
                f"{', '.join(t for t in targets if t not in features)} to --features"
            )
        notes.append("no highway: a target is not among the features, so it has no lags")
    lags = season_lags(season) if highway else ()
    shortest = min(len(s.y[r]) for s, r in zip(series, train_rows))
    if lags and max(lags) >= shortest:
        raise DataError(
            f"--season {season} needs more than {max(lags)} training rows per series (the "
            f"shortest has {shortest}); give a shorter --season, or --season none"
        )
    trend = trend_ratio(first)
    mode = cfg.target_mode
    if mode == "delta" and not highway:
        raise UsageError(
            "--target-mode delta adds the forecast change to the current value, which the "
            "highway's state keeps; drop --no-highway"
        )
    if mode == "auto":
        mode = "delta" if highway and trend > TREND else "level"
    train_mode = cfg.train_mode
    if train_mode == "auto":
        rows = sum(len(s.y[r]) for s, r in zip(series, train_rows))
        stateful = rows >= STATEFUL_ROWS and not cfg.bidirectional
        train_mode = "stateful" if stateful else "windows"
    cols = cols if in_inputs else ()
    window = cfg.window or auto_window(max(len(s.y[r]) for s, r in zip(series, train_rows)), lags)
    return Plan(season, source, cols, lags, mode, train_mode, window, trend, tuple(notes))


def auto_window(rows: int, lags: Sequence[int]) -> int:
    """--window 0: WINDOW steps, or a quarter of what a training split of ``rows`` leaves after
    the highway's burn-in (max(lags)) when that is shorter, so a short series still gives many
    different windows (wine sales, 123 training rows: 27; measured 0.88 of the seasonal
    autoregression's MAE with 24-step windows against a tie with 50).

    >>> auto_window(10_000, (1, 2, 24, 25)), auto_window(123, (1, 2, 12, 13)), auto_window(20, ())
    (50, 27, 8)
    """
    return max(MIN_WINDOW, min(WINDOW, (rows - max(lags, default=0)) // 4))


def _season(cfg: TrainConfig, first: np.ndarray) -> tuple[int | None, str]:
    given = cfg.season_length
    if given is not None:
        return given, "given"
    if str(cfg.season).strip().lower() == "none":
        return None, "none"
    found = detect_season(first)
    return found, "detected" if found else "none"
