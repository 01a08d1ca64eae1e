"""The stream loop: ticks group keys, never reorder a key, and wait no longer than asked."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from edgernn.runner import Inbox, RunnerConfig, StreamRunner


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


def timed_records(rows, stamps, key="a"):
    for i, (row, ts) in enumerate(zip(rows, stamps)):
        yield i, {"sensor": key, "timestamp": ts, "temp": float(row[0]), "humidity": float(row[1])}


def test_out_of_order_and_duplicate_timestamps_are_rejected_and_skipped(model, rows):
    stamps = [0, 1, 2, 2, 3, 1, 4, 5]  # a duplicate 2 and a late 1
    rejected = []
    runner = StreamRunner(model, RunnerConfig(key_field="sensor"), emit=(out := []).append, reject=rejected.append)
    stats = runner.run(timed_records(rows, stamps))
    assert stats.steps == 6 and stats.rejected == 2
    assert all("out of order or duplicate" in r["reason"] for r in rejected)
    clean = [r for i, r in enumerate(rows[:8]) if i not in (3, 5)]
    s = model.stream()
    assert [o["forecast"] for o in out] == [s.step(r).forecast for r in clean]


def test_gap_policy_reset_starts_the_key_over_and_carry_keeps_it(model, rows):
    stamps = [0, 1, 2, 3, 100, 101, 102]
    _, carried = run(model, timed_records(rows, stamps), gap_limit=10.0, gap_policy="carry")
    stats, reset = run(model, timed_records(rows, stamps), gap_limit=10.0, gap_policy="reset")
    assert stats.gaps == 1
    assert [o["step"] for o in reset] == [1, 2, 3, 4, 1, 2, 3]
    s = model.stream()
    assert [o["forecast"] for o in reset[4:]] == [s.step(r).forecast for r in rows[4:7]]
    assert [o["step"] for o in carried] == list(range(1, 8))


def test_iso_timestamps_measure_gaps_in_seconds(model, rows):
    stamps = ["2026-11-25T10:00:00Z", "2026-11-25T10:00:10Z", "2026-11-25T11:00:00Z"]
    stats, _ = run(model, timed_records(rows, stamps), gap_limit=60.0, gap_policy="reset")
    assert stats.gaps == 1


def test_max_keys_rejects_new_keys_beyond_the_limit(model, rows):
    keys = tuple(f"k{i}" for i in range(5))
    stats, out = run(model, records(rows[:4], keys=keys), max_keys=3)
    assert {o["key"] for o in out} == {"k0", "k1", "k2"}
    assert stats.rejected == 2 * 4 and "beyond --max-keys 3" in next(iter(stats.reasons))


def test_inbox_keeps_order_through_backpressure_and_times_out():
    box = Inbox(size=8)  # the reader sleeps at 8 until the loop is down to 4
    threading.Thread(target=lambda: [box.put(i) for i in range(5000)], daemon=True).start()
    assert [box.get() for _ in range(5000)] == list(range(5000))
    with pytest.raises(queue.Empty):
        box.get(timeout=0)
    with pytest.raises(queue.Empty):
        box.get(timeout=0.01)


def test_a_full_inbox_does_not_lose_or_reorder_records(model, rows):
    stats, out = run(model, records(rows[:100]), queue_size=3)
    assert stats.steps == 200 and [o["step"] for o in out if o["key"] == "a"] == list(range(1, 101))
