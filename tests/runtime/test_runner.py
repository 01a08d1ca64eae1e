"""The stream loop: ticks group keys, never reorder a key, and wait no longer than asked."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from edgernn.serve.inbox import Inbox
from edgernn.serve.runner import RunnerConfig, StreamRunner


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
    # nothing waits: mostly one key per tick (a loaded machine may pair a few)
    assert eager.ticks >= 20
    assert patient.ticks <= 16  # b waits ~2 ms for a's tick... and a for b's
    assert [o["key"] for o in out] == ["a", "b"] * 15  # arrival order kept


def test_max_batch_caps_a_tick(model, rows):
    keys = tuple(f"k{i}" for i in range(10))
    stats, _ = run(model, records(rows[:3], keys=keys), max_batch=4)
    assert stats.steps == 30 and stats.ticks >= 8  # ceil(30 / 4)


def timed_records(rows, stamps, key="a"):
    for i, (row, ts) in enumerate(zip(rows, stamps)):
        yield i, {"sensor": key, "timestamp": ts, "temp": float(row[0]), "humidity": float(row[1])}


def test_repeats_are_duplicates_and_late_records_rejects(model, rows):
    # 2 again (same values): a duplicate; 1 again: one too; 3: late
    stamps = [0, 1, 2, 2, 4, 1, 3, 5]
    recs = list(timed_records(rows, stamps))
    recs[3] = (3, dict(recs[2][1]))  # the repeat of 2 is the very same record (a redelivery)
    recs[5] = (5, dict(recs[1][1]))
    rejected = []
    runner = StreamRunner(
        model, RunnerConfig(key_field="sensor"), emit=(out := []).append, reject=rejected.append
    )
    stats = runner.run(recs)
    assert (stats.steps, stats.duplicates, stats.rejected) == (5, 2, 1)
    assert "out of order" in rejected[0]["reason"] and rejected[0]["line"] == 6
    clean = [rows[i] for i in (0, 1, 2, 4, 7)]
    s = model.stream()
    assert [o["forecast"] for o in out] == [s.step(r).forecast for r in clean]


def test_a_repeated_timestamp_with_other_values_is_rejected(model, rows):
    stats, _ = run(model, timed_records(rows, [0, 1, 1, 2]))
    assert (stats.steps, stats.duplicates, stats.rejected) == (3, 0, 1)


def test_reject_reasons_are_counted_by_kind(model, rows):
    recs = [
        (i, {"sensor": "a", "timestamp": 100 - i, "temp": 1.0, "humidity": 2.0}) for i in range(12)
    ]
    recs += [(20 + i, {"sensor": "a", f"x{i}": 1, "temp": 1.0, "humidity": 2.0}) for i in range(3)]
    rejected = []
    runner = StreamRunner(
        model, RunnerConfig(key_field="sensor"), emit=lambda o: None, reject=rejected.append
    )
    stats = runner.run(recs)
    assert stats.rejected == 14 and len(stats.reasons) == 2  # 11 late timestamps, 3 unknown fields
    assert stats.reasons["unexpected field(s) <value>; the model takes temp, humidity"] == 3
    # the file keeps it all
    assert "timestamp 99 is not after this key's last (100)" in rejected[0]["reason"]


def test_idle_keys_are_spilled_and_counted(model, rows):
    def feed():
        yield 1, {"sensor": "a", "temp": 1.0, "humidity": 2.0}
        yield 2, {"sensor": "b", "temp": 1.0, "humidity": 2.0}
        time.sleep(0.08)
        for i in range(3):
            yield 3 + i, {"sensor": "b", "temp": 1.0, "humidity": 2.0}

    runner = StreamRunner(model, RunnerConfig(key_field="sensor", idle_s=0.05), emit=lambda o: None)
    stats = runner.run(feed())
    s = stats.summary(runner.keys, "cpu", spilled=len(runner.pool.spilled))
    # a went quiet
    assert (s["keys"], s["keys_active"], s["keys_spilled"], s["spills"]) == (2, 1, 1, 1)


def test_stop_ends_the_run_after_the_record_in_hand(model, rows):
    out = []

    def emit(o):
        out.append(o)
        if len(out) == 10:
            runner.stop()

    runner = StreamRunner(model, RunnerConfig(key_field="sensor"), emit=emit)
    stats = runner.run(records(rows[:50]))
    # its tick finished, nothing half done
    assert 10 <= stats.steps <= 12 and len(out) == stats.steps


def test_a_checkpoint_waits_for_a_sink_that_cannot_confirm(model, rows, tmp_path):
    confirmed = [False]
    runner = StreamRunner(
        model,
        RunnerConfig(key_field="sensor", state_dir=tmp_path, checkpoint_every_steps=10),
        emit=lambda o: None,
        sync=lambda: confirmed[0],
    )
    stats = runner.run(records(rows[:20]))
    assert stats.checkpoints == 0 and stats.deferred >= 1 and runner.behind
    assert not (tmp_path / "state.edgernn").exists()  # never ahead of what the sink delivered
    confirmed[0] = True
    runner.checkpoint()
    assert (
        runner.stats.checkpoints == 1
        and not runner.behind
        and (tmp_path / "state.edgernn").exists()
    )


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


def cli(*args: str, input: str):
    from click.testing import CliRunner

    from edgernn.cli import main

    return CliRunner().invoke(main, ["stream", *args], input=input)


def keyed_lines(rows, n: int = 5) -> str:
    return "".join(
        f'{{"sensor": "a", "temp": {float(t)}, "humidity": {float(h)}}}\n' for t, h in rows[:n]
    )


def test_the_first_reject_is_explained_once_when_nothing_else_shows_it(rows, tmp_path):
    r = cli(input=keyed_lines(rows))  # keyed records without --key
    assert r.exit_code == 0 and "0 steps" in r.stderr and "5 rejected" in r.stderr
    notes = [x for x in r.stderr.splitlines() if x.startswith("note: ")]
    assert notes == [
        "note: record 1 rejected: unexpected field(s) 'sensor'; the model takes temp, "
        "humidity; rejects are skipped; --rejects PATH keeps them all"
    ]
    assert "note:" not in cli("--quiet", input=keyed_lines(rows)).stderr
    rejects = tmp_path / "rejects.jsonl"
    r = cli("--key", "device", "--rejects", str(rejects), input=keyed_lines(rows))
    assert (
        "note: every record was rejected; the first (record 1): unexpected field(s) 'sensor'"
        in r.stderr
    )
    assert f"all are in {rejects}" in r.stderr and len(rejects.read_text().splitlines()) == 5
    r = cli("--key", "sensor", "--rejects", str(rejects), input=keyed_lines(rows) + "junk\n")
    assert "note:" not in r.stderr  # some records went through and the file has the rest
