"""The stream loop: ticks group keys, never reorder a key, and wait no longer than asked."""

from __future__ import annotations

import time

import numpy as np

from edgernn.runner import RunnerConfig, StreamRunner


def records(rows, keys=("a", "b"), pause_s: float = 0.0):
    for t, row in enumerate(rows):
        for k in keys:
            if pause_s:
                time.sleep(pause_s)
            yield t, {"sensor": k, "temp": float(row[0]), "humidity": float(row[1])}


def run(model, items, **cfg):
    out = []
    runner = StreamRunner(model, RunnerConfig(key_field="sensor", **cfg), emit=out.append)
    return runner.run(items), out


def test_keys_share_ticks_and_match_separate_streams(model, rows):
    stats, out = run(model, records(rows[:50]))
    assert stats.steps == 100 and stats.ticks < 100  # both keys in most ticks
    s = model.stream()
    want = [s.step(r).forecast for r in rows[:50]]
    assert [o["forecast"] for o in out if o["key"] == "a"] == want
    assert [o["step"] for o in out if o["key"] == "b"] == list(range(1, 51))


def test_max_delay_lets_slow_arrivals_join_a_tick(model, rows):
    eager, _ = run(model, records(rows[:15], pause_s=0.002), max_delay_ms=0)
    patient, out = run(model, records(rows[:15], pause_s=0.002), max_delay_ms=200)
    assert eager.ticks >= 20  # nothing waits: mostly one key per tick (a loaded machine may pair a few)
    assert patient.ticks <= 16  # b waits ~2 ms for a's tick... and a for b's
    assert [o["key"] for o in out] == ["a", "b"] * 15  # arrival order kept


def test_max_batch_caps_a_tick(model, rows):
    keys = tuple(f"k{i}" for i in range(10))
    stats, _ = run(model, records(rows[:3], keys=keys), max_batch=4)
    assert stats.steps == 30 and stats.ticks >= 8  # ceil(30 / 4)
