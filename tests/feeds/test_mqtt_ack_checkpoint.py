"""MQTT source with --state-dir: a message is acknowledged only once a committed checkpoint
covers it (issue 14, defect 9). A run killed with SIGKILL between checkpoints used to have acked
messages its saved state never saw: the next run resumed without them, and every later output
of their keys was off. Now the broker delivers them again and the next run's outputs are those
of a run that never stopped. The guarantee is at least once: outputs made after the last
checkpoint of the killed run are made again by the next one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from mqtt_clients import file_fed, out_lines, prime, publish, records


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60  # a guard against a hang, not a pace
    while not path.exists() or len(path.read_text().splitlines()) < n:
        assert time.monotonic() < deadline and proc.poll() is None, f"{n} outputs did not come"
        time.sleep(0.02)


def test_sigkill_between_checkpoints_loses_no_message(broker, tmp_path: Path) -> None:
    host, port = broker
    src = f"mqtt://{host}:{port}/durable/+/data"
    opts = ["--client-id", "durable-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(src, "durable-1", *opts[2:])
    recs = records()  # 3 keys x 30 steps
    half = len(recs) // 2 + 1  # not a multiple of the checkpoint's message count
    state = tmp_path / "state"
    base = [sys.executable, "-m", "edgernn", "stream", "--source", src, *opts]
    base += ["--state-dir", str(state), "--checkpoint-every", "1000000", "--quiet"]
    topic = [(f"durable/{k}/data", json.dumps(r)) for k, r in recs]

    first_out = tmp_path / "first.jsonl"
    first = subprocess.Popen([*base, "--sink", str(first_out)])
    try:
        publish(host, port, topic[:half])
        _wait_for_lines(first_out, half, first)
    finally:
        first.send_signal(signal.SIGKILL)  # no last checkpoint, no clean disconnect
        first.wait(timeout=30)

    second_out = tmp_path / "second.jsonl"
    second = subprocess.Popen([*base, "--sink", str(second_out)])
    try:
        publish(host, port, topic[half:])
        _wait_for_lines(second_out, len(recs) - half, second)
        time.sleep(0.5)  # redeliveries come first; anything else would be extra
        second.terminate()
        assert second.wait(timeout=60) == 0
    finally:
        second.kill()

    whole = file_fed(tmp_path, recs)  # the same records in one run that never stopped
    expected = {(o["key"], o["timestamp"]): o for outs in whole.values() for o in outs}
    got = out_lines(first_out.read_text()) + out_lines(second_out.read_text())
    assert {(o["key"], o["timestamp"]) for o in got} == set(expected)  # none lost
    for o in out_lines(second_out.read_text()):  # the resumed run continues each key exactly
        assert o == expected[(o["key"], o["timestamp"])]


def test_a_run_of_bad_messages_does_not_stall_the_in_flight_window(broker, tmp_path: Path) -> None:
    """Rejected messages are finished too: their acks wait for a checkpoint like any other, and
    one is made as soon as enough wait (not 5 s later, once per in-flight window)."""
    from mqtt_clients import run

    host, port = broker
    src = f"mqtt://{host}:{port}/durable-bad/data"
    opts = ["--client-id", "durable-bad", "--key", "sensor"]
    prime(src, "durable-bad", *opts[2:])
    bad = [("durable-bad/data", "not json") for _ in range(60)]
    good = [("durable-bad/data", json.dumps({"sensor": k, **r})) for k, r in records()[:6]]
    publish(host, port, bad + good)
    t0 = time.monotonic()
    r = run("stream", "--source", src, *opts, "--state-dir", str(tmp_path / "s"), "--limit", "66")
    assert r.exit_code == 0, r.output
    assert "60 rejected" in r.stderr and len(out_lines(r.stdout)) == 6
    assert time.monotonic() - t0 < 4.5, "the broker waited for acks (a checkpoint every 5 s)"
