"""Latency in reports: percentiles of per-call times, the one way edgernn summarises them.

``edgernn stream``'s run summary (``edgernn.serve.stats``) and ``edgernn bench`` both time
calls with ``time.perf_counter_ns`` and report microseconds, with numpy's percentiles
(linear interpolation) rounded for reading.

>>> percentiles([1000, 2000, 3000, 4000])
{'p50': 2.5, 'p90': 3.7, 'p99': 3.97, 'max': 4.0, 'mean': 2.5}
>>> percentiles([1000, 2000, 3000, 4000], ("p50", "p99"), digits=1)
{'p50': 2.5, 'p99': 4.0}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

SUMMARY = ("p50", "p90", "p99", "max", "mean")  # what benchmarks report of each timed loop


def percentiles(ns: ArrayLike, names: Sequence[str] = SUMMARY, digits: int = 3) -> dict[str, float]:
    """Per-call nanoseconds summarised in microseconds: each of ``names`` ("p50", "p99", ...:
    a percentile; "max"; "mean"), rounded to ``digits`` decimals."""
    us = np.asarray(ns, dtype=np.float64) / 1e3
    return {name: round(float(_statistic(us, name)), digits) for name in names}


def _statistic(us: np.ndarray, name: str) -> float:
    if name == "max":
        return float(us.max())
    if name == "mean":
        return float(us.mean())
    return float(np.percentile(us, float(name.removeprefix("p"))))
