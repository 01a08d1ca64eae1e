"""Drift and ramp detection: a two-sided Page-Hinkley test over the standardised residuals.

The residual score (``edgernn.core.anomaly``) asks "is this one value surprising?"; a slow ramp
never is, because each step moves only a little and the forecaster follows. This detector asks
"have the residuals been leaning one way for a while?" instead. Its input is each target's
*standardised* residual z = (residual - mean) / std, with the mean and std that
``ResidualStats`` had *before* absorbing that residual (frozen at the time, so a drift cannot
teach itself away before it is seen), clipped to +-``clip`` (the residual threshold: a spike is
the residual detector's business and counts here no more than a large ordinary residual).

Per target it keeps the Page-Hinkley sums over z minus its running mean (since the last
reset), one for increases and one for decreases, each with an allowance ``delta`` and a
forgetting factor ``alpha``:

    up   = alpha * up   + (z - mean) - delta,  up_min   = min(up_min, up)
    down = alpha * down + (z - mean) + delta,  down_max = max(down_max, down)

and fires when ``up - up_min`` or ``down_max - down`` exceeds ``threshold`` (lambda), once at
least ``min_samples`` z values have been seen since the last reset. When it fires every
target's sums start over, so a drift that goes on (or a later one) can fire again. The
algorithm is river's ``PageHinkley`` (mode "both"; github.com/online-ml/river,
river/drift/page_hinkley.py; E. S. Page, Continuous Inspection Schemes, Biometrika 41, 1954),
written here in plain floats. One difference: the running min and max include the sums'
starting 0 (Page's m_0 = 0; river starts them at +-inf), which keeps the state finite, so
it stores in JSON and in zeroed arrays.

Thresholds (the defaults below; ``edgernn stream --drift-threshold`` sets lambda), measured
with the shipped sensor forecaster over ``edgernn.feeds.synth.sensor_signal`` series (see
docs/DESIGN-NOTES.md, "Drift and ramps"; tests/core/test_drift.py):

- delta 0.2 std, lambda 25, min_samples 30: a ramp of +-0.02 residual std per step (about
  0.006 degrees per step) after 800 steady steps is flagged 56-196 steps after it starts
  (median 101, 20 runs); the residual score fired before that in 1 of the 20 runs. The same
  sensor without a ramp (its own slow seasonal trend and injected spikes) gives 9 alarms in
  48,000 steps, about one per 5,000 steps. A larger lambda trades delay for fewer alarms
  (lambda 30: 6 alarms); ``inf`` turns the test off.

>>> ph = PageHinkley(n_targets=1, threshold=5.0, min_samples=5)
>>> [ph.observe_floats([0.0]) for _ in range(10)].count(True)      # no shift, no alarm
0
>>> fired = [ph.observe_floats([2.0]) for _ in range(10)]          # a sustained shift
>>> fired.index(True), ph.count                                   # fires, then starts over
(3, 6)
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

DRIFT_THRESHOLD = 25.0  # lambda: the Page-Hinkley sum (in std units) that signals a drift
DRIFT_DELTA = 0.2  # allowance: mean shifts of z smaller than this are never accumulated
DRIFT_MIN_SAMPLES = 30  # z values since the last reset before the test may fire
DRIFT_ALPHA = 1 - 1e-4  # forgetting factor of the sums (river's default)
# what a step's output names for (residual detector fired, drift test fired)
DETECTORS: dict[tuple[bool, bool], str | None] = {
    (False, False): None,
    (True, False): "residual",
    (False, True): "drift",
    (True, True): "residual+drift",
}


def page_hinkley_step(
    z: Sequence[float],
    n: int,
    mean: MutableSequence[float],
    up: MutableSequence[float],
    up_min: MutableSequence[float],
    down: MutableSequence[float],
    down_max: MutableSequence[float],
    at: int,
    params: tuple[float, float, float, int, float],
) -> bool:
    """One Page-Hinkley update of every target with z (n_targets,), the ``n``-th value since
    the last reset; the state is per target at ``at`` + k of the five sequences (lists of a
    ``PageHinkley``, or a pool's flat per-slot memoryviews: the same bits either way). Returns
    whether it fired, having zeroed the sums if so (the caller zeroes its count).
    ``params``: (threshold, delta, alpha, min_samples, clip)."""
    lam, delta, alpha, min_samples, clip = params
    fired = False
    for i in range(at, at + len(z)):
        x = z[i - at]
        if x > clip:  # np.clip's value
            x = clip
        elif x < -clip:
            x = -clip
        m = mean[i]
        m = mean[i] = m + (x - m) / n
        d = x - m
        u = up[i] = alpha * up[i] + d - delta
        lo = up_min[i]
        if u < lo:
            lo = up_min[i] = u
        w = down[i] = alpha * down[i] + d + delta
        hi = down_max[i]
        if w > hi:
            hi = down_max[i] = w
        if u - lo > lam or hi - w > lam:
            fired = True
    if fired and n >= min_samples:
        for k in range(len(z)):
            i = at + k
            mean[i] = up[i] = up_min[i] = down[i] = down_max[i] = 0.0
        return True
    return False


@dataclass
class PageHinkley:
    """Two-sided Page-Hinkley drift test over standardised residuals, per target (plain floats:
    targets are few). See the module for what it computes and its measured thresholds."""

    n_targets: int  # residual columns, each tested on its own; any one fires the detector
    threshold: float = DRIFT_THRESHOLD  # lambda; inf: never fires
    delta: float = DRIFT_DELTA  # allowance, in std units
    min_samples: int = DRIFT_MIN_SAMPLES  # z values since the last reset before it may fire
    alpha: float = DRIFT_ALPHA  # forgetting factor of the sums
    clip: float = 4.0  # |z| beyond this counts as this (the residual threshold)
    count: int = 0  # z values seen since the last reset
    mean: list[float] = field(default_factory=list)  # (n_targets,) running mean of z since reset
    up: list[float] = field(default_factory=list)  # (n_targets,) sum for an increase
    up_min: list[float] = field(default_factory=list)  # (n_targets,) its lowest value so far
    down: list[float] = field(default_factory=list)  # (n_targets,) sum for a decrease
    down_max: list[float] = field(default_factory=list)  # (n_targets,) its highest value so far
    # the parameters as page_hinkley_step takes them, fixed when the test is made
    _params: tuple[float, float, float, int, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in STATE:
            setattr(self, name, getattr(self, name) or [0.0] * self.n_targets)
        self._params = self.params

    @property
    def params(self) -> tuple[float, float, float, int, float]:
        """What ``page_hinkley_step`` takes: (threshold, delta, alpha, min_samples, clip)."""
        return (self.threshold, self.delta, self.alpha, self.min_samples, self.clip)

    def observe_floats(self, z: Sequence[float]) -> bool:
        """Take one standardised residual (n_targets,) of Python floats; True when it fires
        (and then the test starts over)."""
        n = self.count + 1
        fired = page_hinkley_step(
            z, n, self.mean, self.up, self.up_min, self.down, self.down_max, 0, self._params
        )
        self.count = 0 if fired else n
        return fired

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count} | {name: list(getattr(self, name)) for name in STATE}

    def load_dict(self, d: Mapping[str, Any]) -> None:
        self.count = int(d["count"])
        for name in STATE:
            setattr(self, name, [float(v) for v in d[name]])


# the per-target state lists of a PageHinkley, in the order page_hinkley_step takes them
STATE = ("mean", "up", "up_min", "down", "down_max")
