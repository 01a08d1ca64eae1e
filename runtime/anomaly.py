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

import math
from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class ResidualStats:
    """Running mean and variance of residuals, per target (plain floats: targets are few)."""

    n_targets: int  # residual columns
    warmup: int = 20  # residuals seen before any score is given
    horizon: int = 500  # past this many, statistics are exponentially weighted (alpha = 1/horizon)
    threshold: float = 4.0  # |z| above which a residual is anomalous
    count: int = 0  # residuals absorbed into the statistics
    mean: list[float] = field(default_factory=list)  # (n_targets,) running mean of residuals
    var: list[float] = field(default_factory=list)  # (n_targets,) running variance of residuals

    def __post_init__(self) -> None:
        self.mean = self.mean or [0.0] * self.n_targets
        self.var = self.var or [0.0] * self.n_targets

    def score(self, residual: Sequence[float]) -> float | None:
        """Largest |z| of ``residual`` against the statistics, or None while warming up."""
        if self.count < self.warmup:
            return None
        return max(abs(r - m) / math.sqrt(max(v, 1e-12)) for r, m, v in zip(residual, self.mean, self.var))

    def observe(self, residual: Sequence[float]) -> float | None:
        """Score ``residual``, then absorb it unless it was anomalous."""
        r = [float(v) for v in residual]
        z = self.score(r)
        if z is None or z <= self.threshold:
            self._absorb(r)
        return z

    def _absorb(self, r: list[float]) -> None:
        self.count += 1
        alpha = 1.0 / min(self.count, self.horizon)
        for i, (x, m, v) in enumerate(zip(r, self.mean, self.var)):
            delta = x - m
            self.mean[i] = m + alpha * delta
            self.var[i] = (1 - alpha) * (v + alpha * delta * delta)

    def to_dict(self) -> dict:
        return {"count": self.count, "mean": list(self.mean), "var": list(self.var)}

    def load_dict(self, d: dict) -> None:
        self.count = int(d["count"])
        self.mean = [float(v) for v in d["mean"]]
        self.var = [float(v) for v in d["var"]]
