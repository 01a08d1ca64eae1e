"""The stream loop: ticks group keys, never reorder a key, and wait no longer than asked."""

from __future__ import annotations

import queue
import threading
import time
from types import SimpleNamespace

import pytest
from sensor_feeds import keyed_records

from edgernn.serve.config import RunnerConfig
from edgernn.serve.inbox import Inbox
from edgernn.serve.runner import StreamRunner


def records(rows, keys=("a", "b")):
    for t, row in enumerate(rows):
        for k in keys:
            yield t, {"sensor": k, "temp": float(row[0]), "humidity": float(row[1])}


def wait_until(check, what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it holds; the timeout is only a guard against a hang."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def one_by_one(items, ready, what: str):
    """``items`` numbered 1, 2, ..., each handed over only once ``ready(n)`` holds for the one
    before: slow arrivals, paced by the runner's state rather than by sleeps."""
    for i, item in enumerate(items, start=1):
        if i > 1:
            wait_until(lambda n=i - 1: ready(n), f"{what} (record {i - 1})")
        yield i, item


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
    recs = [rec for _, rec in records(rows[:15])]
    first = []
    runner = StreamRunner(
        model, RunnerConfig(key_field="sensor", max_delay_ms=0), emit=first.append
    )
    eager = runner.run(one_by_one(recs, lambda n: len(first) == n, "its output"))
    assert eager.ticks == 30  # nothing waits: each record's tick closes before the next arrives
    out = []
    runner = StreamRunner(
        model, RunnerConfig(key_field="sensor", max_delay_ms=60_000), emit=out.append
    )
    # each record arrives once the runner holds the one before and waits for input (waiting goes
    # False when it takes an item, True again in its next wait); 60 s is longer than any wait here
    patient = runner.run(
        one_by_one(recs, lambda n: runner._fed_upto == n and runner.waiting, "the runner to wait")
    )
    # b joins a's open tick... and a's next record closes it (a key never repeats in one)
    assert patient.ticks == 15
    assert [o["key"] for o in out] == ["a", "b"] * 15  # arrival order kept


def test_an_open_tick_closes_by_itself_once_max_delay_has_passed(model, rows):
    out, more = [], threading.Event()
    runner = StreamRunner(model, RunnerConfig(key_field="sensor", max_delay_ms=20), emit=out.append)

    def feed():
        yield 1, {"sensor": "a", "temp": float(rows[0][0]), "humidity": float(rows[0][1])}
        wait_until(lambda: len(out) == 1, "the tick to close while the input is quiet")
        more.set()
        yield 2, {"sensor": "b", "temp": float(rows[0][0]), "humidity": float(rows[0][1])}

    stats = runner.run(feed())
    assert more.is_set() and stats.ticks == 2 and [o["key"] for o in out] == ["a", "b"]


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


def test_idle_keys_are_spilled_and_counted(model, rows, monkeypatch):
    import edgernn.core.extras
    import edgernn.core.pool

    clock = [1000.0]  # the pool's clock, moved by the feed: idleness without sleeping or racing it
    for module in (edgernn.core.pool, edgernn.core.extras):  # where keys are stamped and checked
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = []

    def feed():
        yield 1, {"sensor": "a", "temp": 1.0, "humidity": 2.0}
        yield 2, {"sensor": "b", "temp": 1.0, "humidity": 2.0}
        wait_until(lambda: len(out) == 2 and runner.waiting, "a and b stepped, their tick closed")
        clock[0] += 0.08
        for i in range(3):
            yield 3 + i, {"sensor": "b", "temp": 1.0, "humidity": 2.0}

    runner = StreamRunner(model, RunnerConfig(key_field="sensor", idle_s=0.05), emit=out.append)
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


def test_a_stop_just_before_the_wait_for_input_still_ends_the_run(model, monkeypatch):
    """A signal handler calls stop() while the runner works and interrupts it while it waits
    for input (``waiting``). A stop() that lands after the loop's last look at the flag, as
    the runner finds its inbox empty and is about to wait, must end the run as well: a live
    feed may send nothing more, and SIGTERM would go unheeded."""
    import edgernn.serve.runner

    out = []

    class StopAsItFindsNothing(Inbox):  # the handler runs right there, once the record is out
        def get(self, timeout=None):
            try:
                return super().get(timeout)
            except queue.Empty:
                if timeout == 0 and out and not runner.waiting:
                    runner.stop()
                raise

    monkeypatch.setattr(edgernn.serve.runner, "Inbox", StopAsItFindsNothing)
    quiet = threading.Event()

    def feed():  # one record, then a feed that says nothing more
        yield 1, {"sensor": "a", "temp": 1.0, "humidity": 2.0}
        quiet.wait()

    runner = StreamRunner(model, RunnerConfig(key_field="sensor"), emit=out.append)
    running = threading.Thread(target=runner.run, args=(feed(),), daemon=True)
    running.start()
    running.join(60)  # a guard: a heeded stop returns at once
    quiet.set()
    assert not running.is_alive(), (
        "the stop was lost: the runner waits for input that does not come"
    )
    assert len(out) == 1


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
    assert runner.store.keys == 0  # never ahead of what the sink delivered
    confirmed[0] = True
    runner.checkpoint()
    assert runner.stats.checkpoints == 1 and not runner.behind and runner.store.keys > 0


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


def test_a_resumed_run_goes_on_with_each_keys_drift_test(model, tmp_path):
    """Checkpoints carry the drift test: a run stopped half way and resumed from its state
    gives the lines one run gives, drift alarms included (a low threshold makes them many)."""
    recs = list(enumerate((dict(r, sensor=k) for k, r in keyed_records(("a", "b"), 300)), 1))
    cfg = dict(key_field="sensor", drift_threshold=3.0, state_dir=tmp_path)
    whole: list = []
    StreamRunner(model, RunnerConfig(key_field="sensor", drift_threshold=3.0), whole.append).run(
        recs
    )
    first: list = []
    StreamRunner(model, RunnerConfig(**cfg), emit=first.append).run(recs[:300])
    second: list = []
    StreamRunner(model, RunnerConfig(**cfg), emit=second.append).run(recs)  # replays skipped
    assert first + second == whole
    assert any(o.get("detector") == "drift" for o in second)
    assert all("detector" not in o for o in whole if not o["anomaly"])
