"""The quality benchmark's real series, read from data that ships inside installed packages.

Nothing is fetched from the internet: statsmodels ships ``sunspots``, ``elnino`` and ``co2``
inside its wheel, pmdarima ships ``wineind`` as a literal array. pmdarima's ``load_gasoline``
downloads its CSV on first use, so ``gasoline`` is read only from pmdarima's own disk cache
(``~/.pmdarima-data/gasoline.csv.gz``) when a previous online session left it there; without it
the series is skipped with that reason, and ``co2`` (weekly, trend + yearly season, the same
shape of problem) stands in for it.

Each series becomes a CSV with a ``value`` column and, where the data has dates, an ISO-8601
``timestamp`` column: what ``edgernn train forecast --data FILE`` reads.

>>> s = SERIES["elnino"]
>>> s.freq, s.season
('monthly', 12)
>>> sorted(SERIES)
['co2', 'elnino', 'gasoline', 'sunspots', 'wineind']
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class Unavailable(Exception):
    """A series' data is not installed here (the message says what is missing and why)."""


@dataclass(frozen=True)
class Loaded:
    """One series as read from its package, in time order."""

    values: np.ndarray  # (N,) float64 observations, the data's own units
    timestamps: list[str] | None  # N ISO-8601 dates, or None where the data has no dates
    note: str = ""  # what was done to the raw data (flattened, interpolated), "" if nothing


@dataclass(frozen=True)
class SeriesSpec:
    """A benchmark series: where it comes from and what is known about it."""

    name: str  # short name (--only NAME, the CSV's stem)
    source: str  # the package function it is read from
    freq: str  # "yearly", "monthly" or "weekly"
    season: int  # known season length in steps (1 = none), used by the seasonal baselines
    season_why: str  # where the known season comes from
    units: str  # the data's units (MAE and RMSE are in these)
    load: Callable[[], Loaded]  # reads the series from the installed package


def _sunspots() -> Loaded:
    from statsmodels.datasets import sunspots

    d = sunspots.load_pandas().data
    years = d["YEAR"].astype(int)
    return Loaded(d["SUNACTIVITY"].to_numpy(float), [f"{y:04d}-01-01" for y in years])


def _elnino() -> Loaded:
    from statsmodels.datasets import elnino

    d = elnino.load_pandas().data  # years x months (61, 13)
    values = d[list(MONTHS)].to_numpy(float).reshape(-1)  # (61 * 12,) row-major: year, month
    stamps = [f"{int(y):04d}-{m:02d}-01" for y in d["YEAR"] for m in range(1, 13)]
    return Loaded(values, stamps, "years x months table flattened to a monthly series")


def _co2() -> Loaded:
    from statsmodels.datasets import co2

    d = co2.load_pandas().data
    raw = d["co2"].to_numpy(float)  # (N,) with gaps as NaN
    gaps = int(np.isnan(raw).sum())
    values = d["co2"].interpolate(method="linear").to_numpy(float)
    stamps = [t.strftime("%Y-%m-%d") for t in d.index]
    return Loaded(values, stamps, f"{gaps} missing weeks filled by linear interpolation")


def _wineind() -> Loaded:
    from datetime import datetime

    from pmdarima.datasets import load_wineind

    s = load_wineind(as_series=True)  # index like "Jan 1980"
    stamps = [datetime.strptime(str(i), "%b %Y").strftime("%Y-%m-%d") for i in s.index]
    return Loaded(s.to_numpy(float), stamps)


def _gasoline() -> Loaded:
    from pmdarima.datasets._base import get_data_cache_path

    path = Path(get_data_cache_path()) / "gasoline.csv.gz"
    if not path.exists():
        raise Unavailable(
            "pmdarima does not ship it: load_gasoline() downloads it on first use, and this "
            f"benchmark never fetches ({path} absent); co2 stands in (weekly, trend + season)"
        )
    return Loaded(np.loadtxt(path).ravel(), None, "read from pmdarima's download cache")


SERIES: dict[str, SeriesSpec] = {
    s.name: s
    for s in (
        SeriesSpec(
            "sunspots",
            "statsmodels.datasets.sunspots",
            "yearly",
            11,
            "the ~11-year solar cycle",
            "sunspot number",
            _sunspots,
        ),
        SeriesSpec(
            "elnino",
            "statsmodels.datasets.elnino",
            "monthly",
            12,
            "the calendar year",
            "degC (sea surface)",
            _elnino,
        ),
        SeriesSpec(
            "gasoline",
            "pmdarima.datasets.load_gasoline",
            "weekly",
            52,
            "the calendar year (52.18 weeks)",
            "million barrels/day",
            _gasoline,
        ),
        SeriesSpec(
            "co2",
            "statsmodels.datasets.co2",
            "weekly",
            52,
            "the calendar year (52.18 weeks)",
            "ppm",
            _co2,
        ),
        SeriesSpec(
            "wineind",
            "pmdarima.datasets.load_wineind",
            "monthly",
            12,
            "the calendar year",
            "litres",
            _wineind,
        ),
    )
}


def write_csv(loaded: Loaded, path: Path) -> Path:
    """Write ``value`` (and ``timestamp`` where there are dates) as a CSV; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        if loaded.timestamps is None:
            w.writerow(["value"])
            w.writerows([repr(float(v))] for v in loaded.values)
        else:
            w.writerow(["timestamp", "value"])
            w.writerows([t, repr(float(v))] for t, v in zip(loaded.timestamps, loaded.values))
    return path
