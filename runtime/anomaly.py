"""Residual-based anomaly scores: how surprising is each value, given the forecast for it?

Each stream keeps running statistics of its one-step forecast errors (residuals). A new
residual's score is its largest |z| over the targets; above the threshold it is an anomaly,
and anomalous residuals do not feed the statistics (a spike must not teach the detector
that spikes are normal). The first ``warmup`` residuals only train the statistics.
After ``horizon`` residuals the statistics become exponentially weighted, so they follow
slow drift.

>>> det = ResidualStats(n_targets=1, warmup=3)
>>> [det.observe([r]) for r in (0.1, -0.1, 0.0)]
[None, None, None]
>>> round(det.observe([0.05]), 2)
0.61
>>> det.observe([5.0]) > 4.0
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ResidualStats:
    n_targets: int  # residual columns
    warmup: int = 20  # residuals seen before any score is given
    horizon: int = 500  # past this many, statistics are exponentially weighted (alpha = 1/horizon)
    threshold: float = 4.0  # |z| above which a residual is anomalous
    count: int = 0  # residuals absorbed into the statistics
    mean: np.ndarray = field(default=None)  # (n_targets,) running mean of residuals
    var: np.ndarray = field(default=None)  # (n_targets,) running variance of residuals

    def __post_init__(self) -> None:
        if self.mean is None:
            self.mean = np.zeros(self.n_targets, dtype=np.float64)
        if self.var is None:
            self.var = np.zeros(self.n_targets, dtype=np.float64)

    def score(self, residual: np.ndarray) -> float | None:
        """Largest |z| of ``residual`` against the statistics, or None while warming up."""
        if self.count < self.warmup:
            return None
        std = np.sqrt(np.maximum(self.var, 1e-12))
        return float(np.max(np.abs((np.asarray(residual, dtype=np.float64) - self.mean) / std)))

    def observe(self, residual) -> float | None:
        """Score ``residual``, then absorb it unless it was anomalous."""
        r = np.asarray(residual, dtype=np.float64)
        z = self.score(r)
        if z is None or z <= self.threshold:
            self._absorb(r)
        return z

    def _absorb(self, r: np.ndarray) -> None:
        self.count += 1
        alpha = 1.0 / min(self.count, self.horizon)
        delta = r - self.mean
        self.mean = self.mean + alpha * delta
        self.var = (1 - alpha) * (self.var + alpha * delta * delta)

    def to_dict(self) -> dict:
        return {"count": self.count, "mean": self.mean.tolist(), "var": self.var.tolist()}

    def load_dict(self, d: dict) -> None:
        self.count = int(d["count"])
        self.mean = np.asarray(d["mean"], dtype=np.float64)
        self.var = np.asarray(d["var"], dtype=np.float64)
