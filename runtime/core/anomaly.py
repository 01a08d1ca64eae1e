"""Residual-based anomaly scores: how surprising is each value, given the forecast for it?

Each stream keeps running statistics of its one-step forecast errors (residuals). A new
residual's score is its largest |z| over the targets; above the threshold it is an anomaly,
and anomalous residuals do not feed the statistics (a spike must not teach the detector
that spikes are normal). The first ``warmup`` residuals only train the statistics.
After ``horizon`` residuals the statistics become exponentially weighted, so they follow
slow drift. The signed z of each scored residual stays in ``z`` for the drift test
(``edgernn.core.drift``), which sees them as the statistics stood before absorbing it.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_sqrt = math.sqrt


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
    # (n_targets,) signed z of the last scored residual, against the statistics before it
    z: list[float] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        self.mean = self.mean or [0.0] * self.n_targets
        self.var = self.var or [0.0] * self.n_targets
        self.z = [0.0] * self.n_targets

    def score(self, residual: Sequence[float]) -> float | None:
        """Largest |z| of ``residual`` against the statistics, or None while warming up."""
        if self.count < self.warmup:
            return None
        return max(
            abs(r - m) / math.sqrt(max(v, 1e-12)) for r, m, v in zip(residual, self.mean, self.var)
        )

    def observe(self, residual: Sequence[float]) -> float | None:
        """Score ``residual``, then absorb it unless it was anomalous."""
        return self.observe_floats([float(v) for v in residual])

    def observe_floats(self, residual: Sequence[float]) -> float | None:
        """``observe`` for a residual that already holds Python floats: the per-step hot path,
        so ``score`` is inlined as an index loop (a generator inside ``max``, or ``zip``, costs
        more than the arithmetic with a few targets); it picks the value ``max`` picks, NaN
        included, and updates the statistics with the very same operations as always. A scored
        residual's signed z per target is left in ``z`` (|z| is exactly the score's)."""
        mean, var = self.mean, self.var
        z = None
        if self.count >= self.warmup:
            signed = self.z
            for i in range(len(mean)):
                v = var[i]
                # max(v, 1e-12)
                zs = signed[i] = (residual[i] - mean[i]) / _sqrt(1e-12 if v < 1e-12 else v)
                zi = abs(zs)
                if z is None or zi > z:
                    z = zi
        if z is None or z <= self.threshold:
            count = self.count = self.count + 1
            alpha = 1.0 / (self.horizon if self.horizon < count else count)  # min(count, horizon)
            for i in range(len(mean)):
                m, v = mean[i], var[i]
                delta = residual[i] - m
                mean[i] = m + alpha * delta
                var[i] = (1 - alpha) * (v + alpha * delta * delta)
        return z

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": list(self.mean), "var": list(self.var)}

    def load_dict(self, d: Mapping[str, Any]) -> None:
        self.count = int(d["count"])
        self.mean = [float(v) for v in d["mean"]]
        self.var = [float(v) for v in d["var"]]
