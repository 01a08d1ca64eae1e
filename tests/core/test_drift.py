"""Slow ramps and sustained shifts are flagged by the drift test, which the one-step residual
score cannot see; steady data gives few alarms (the measured rates are in
docs/DESIGN-NOTES.md, "Drift and ramps")."""

from __future__ import annotations

import math

import numpy as np
import pytest

import edgernn
from edgernn.core.drift import DRIFT_THRESHOLD, PageHinkley
from edgernn.feeds.synth import sensor_signal

RAMP_AT, RAMP_STEPS = 800, 300  # the ramp starts after 800 steady steps and lasts 300
SLOPE = 0.02  # residual standard deviations per step
DETECTED_WITHIN = 250  # steps after the ramp starts (measured: 56-196 over 20 runs)


def sensor_rows(n: int, seed: int, anomaly_rate: float = 0.0) -> np.ndarray:
    """(n, 2) temp, humidity of the demo sensor, float64 user units."""
    s = sensor_signal(n, seed=seed, anomaly_rate=anomaly_rate)
    return np.stack([s["temp"], s["humidity"]], axis=1).astype(np.float64)


def ramp_run(stream: edgernn.Stream, seed: int, sign: float) -> list[edgernn.StepResult]:
    """The steady sensor, then temp ramps by ``sign`` * SLOPE residual stds a step (the
    stream's own residual std when the ramp starts) for RAMP_STEPS steps and stays there."""
    rows = sensor_rows(RAMP_AT + RAMP_STEPS + 100, seed)
    out = [stream.step(r) for r in rows[:RAMP_AT]]
    std = math.sqrt(stream.residuals.var[0])  # ~0.3 degrees: about 0.006 degrees a step
    steps = np.minimum(np.arange(len(rows) - RAMP_AT), RAMP_STEPS)  # (T - RAMP_AT,)
    rows[RAMP_AT:, 0] += sign * SLOPE * std * steps
    return out + [stream.step(r) for r in rows[RAMP_AT:]]


def fired(results: list[edgernn.StepResult], detector: str) -> list[int]:
    """The steps (0-based) where ``detector`` ("residual" or "drift") fired."""
    return [i for i, r in enumerate(results) if r.detector and detector in r.detector]


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["up", "down"])
def test_a_slow_ramp_is_flagged_by_the_drift_test_and_not_by_the_residual_score(model, sign):
    for seed in range(4):
        results = ramp_run(model.stream(), seed, sign)
        drift = fired(results, "drift")
        assert drift and RAMP_AT <= drift[0] < RAMP_AT + DETECTED_WITHIN, (seed, drift)
        # nothing before the ramp; the residual score stays quiet until the drift alarm
        assert fired(results[: drift[0]], "residual") == [], seed
        assert results[drift[0]].detector == "drift" and results[drift[0]].anomaly
        ramp_scores = [r.anomaly_score for r in results[RAMP_AT : drift[0]]]
        assert max(s for s in ramp_scores if s is not None) < model.signature.anomaly_threshold


def test_steady_sensor_gives_few_false_drift_alarms(model):
    """The demo sensor with its injected spikes (the residual detector's business) and its own
    slow seasonal trend: measured 9 alarms in 48,000 steps; allowed here 1 per 2,000."""
    steps, alarms, spikes_found = 0, 0, 0
    for seed in range(4):
        s = sensor_signal(5000, seed=seed)
        stream = model.stream()
        results = [stream.step(r) for r in np.stack([s["temp"], s["humidity"]], axis=1)]
        steps += len(results)
        alarms += len(fired(results, "drift"))
        spikes_found += len(set(fired(results, "residual")) & set(np.flatnonzero(s["anomaly"])))
    assert alarms <= steps / 2000, alarms
    assert spikes_found > 0.9 * 4 * 5000 * 0.005  # the spikes are still the residual score's


def test_the_drift_test_is_two_sided_and_fires_again_after_it_starts_over():
    ph = PageHinkley(n_targets=2)
    quiet = [ph.observe_floats([0.1 * math.sin(i), 0.0]) for i in range(500)]
    assert not any(quiet)
    # the second target drops by one std and stays there: one alarm, then the test starts over
    # on the new level; a later rise fires it again
    down = [ph.observe_floats([0.0, -1.0]) for _ in range(200)]
    up = [ph.observe_floats([0.0, 1.0]) for _ in range(200)]
    assert down.count(True) == 1 and 0 < down.index(True) < DRIFT_THRESHOLD / (1.0 - 0.2) + 5
    assert up.count(True) == 1 and ph.count < 200


def test_a_single_spike_cannot_fire_it_alone():
    ph = PageHinkley(n_targets=1, clip=4.0)
    for _ in range(100):
        ph.observe_floats([0.0])
    assert not ph.observe_floats([1e6])  # counts as |z| 4, far below lambda 25


def test_an_infinite_threshold_turns_the_drift_test_off(model):
    results = ramp_run(edgernn.Stream(model, drift_threshold=math.inf), seed=0, sign=1.0)
    assert fired(results, "drift") == []
    assert [r.detector for r in results if r.anomaly] == ["residual"] * sum(
        r.anomaly for r in results
    )


def test_a_snapshot_carries_the_drift_test(model):
    """A low threshold makes the test fire often: a stream restored mid-way (its test holding
    sums) fires exactly where the original does."""
    rows = sensor_rows(700, seed=9)
    a = edgernn.Stream(model, drift_threshold=3.0)
    cut = 0
    while cut < 350 or a.drift.count < 5:
        a.step(rows[cut])
        cut += 1
    b = edgernn.Stream(model, state=a.snapshot(), drift_threshold=3.0)
    assert b.drift == a.drift and b.drift != PageHinkley(1, threshold=3.0)  # sums, not zeros
    rest_a, rest_b = [a.step(r) for r in rows[cut:]], [b.step(r) for r in rows[cut:]]
    assert rest_a == rest_b and fired(rest_a, "drift")
