"""MQTT across restarts: a broker that goes away mid-stream and comes back loses nothing, and
what a run read but did not process is delivered again to the next one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mqtt_clients import by_key, file_fed, out_lines, prime, publish, records, run


def start_broker(work: Path, port: int) -> subprocess.Popen:
    """A mosquitto of this test's own (so it can be restarted), persistence in ``work``."""
    from brokers import start_mosquitto

    return start_mosquitto(work, port)


def test_broker_restart_mid_stream_loses_nothing(tmp_path):
    from brokers import free_port

    port, work = free_port(), tmp_path / "broker"
    work.mkdir()
    broker = start_broker(work, port)
    src = f"mqtt://127.0.0.1:{port}/sensors/+/data"
    opts = ["--client-id", "restart-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(src, "restart-1", *opts[2:])
    recs, sink = records(), tmp_path / "out.jsonl"
    half = len(recs) // 2
    cmd = [sys.executable, "-m", "edgernn", "stream", "--source", src, *opts, "--sink", str(sink)]
    cmd += ["--summary", str(tmp_path / "summary.json")]
    stream = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    def wait_for_outputs(n: int) -> None:
        deadline = time.monotonic() + 60  # a guard against a hang, not a pace
        while not sink.exists() or len(sink.read_text().splitlines()) < n:
            assert time.monotonic() < deadline and stream.poll() is None, (
                f"{n} outputs did not come"
            )
            time.sleep(0.05)

    try:
        publish("127.0.0.1", port, [(f"sensors/{k}/data", json.dumps(r)) for k, r in recs[:half]])
        wait_for_outputs(half)
        broker.terminate()  # the broker goes away mid-stream (its state is persisted)...
        broker.wait(timeout=10)
        broker = start_broker(work, port)  # ...and comes back on the same port
        publish("127.0.0.1", port, [(f"sensors/{k}/data", json.dumps(r)) for k, r in recs[half:]])
        wait_for_outputs(len(recs))
        stream.terminate()  # SIGTERM: a clean stop
        assert stream.wait(timeout=60) == 0
        summary = stream.stderr.read()
    finally:
        stream.kill()
        broker.terminate()
        broker.wait(timeout=10)
    # every sample arrived once in the outputs; QoS 1 redeliveries after the restart, if any, were
    # skipped as duplicates (same key, timestamp and values), not rejected
    assert by_key(out_lines(sink.read_text())) == file_fed(tmp_path, recs), summary
    s = json.loads((tmp_path / "summary.json").read_text())
    assert (s["reconnects"], s["rejected"]) == (1, 0) and "1 source reconnects" in summary
    assert "connection lost" in summary and "reconnected" in summary


def test_messages_read_but_not_processed_are_delivered_again(broker, tmp_path):
    """Acks follow processing: what a --limit run read ahead but did not process comes back."""
    host, port = broker
    src = f"mqtt://{host}:{port}/ack/+/data"
    opts = ["--client-id", "ack-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(src, "ack-1", *opts[2:])
    recs = records()
    publish(host, port, [(f"ack/{k}/data", json.dumps(rec)) for k, rec in recs])
    half = len(recs) // 2
    first = run("stream", "--source", src, *opts, "--limit", str(half), "--quiet")
    second = run("stream", "--source", src, *opts, "--limit", str(len(recs) - half), "--quiet")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    got = [(o["key"], o["timestamp"]) for o in out_lines(first.stdout) + out_lines(second.stdout)]
    assert sorted(got) == sorted((k, rec["timestamp"]) for k, rec in recs)  # none lost, none twice
