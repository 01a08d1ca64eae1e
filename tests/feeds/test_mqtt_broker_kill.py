"""A broker killed with SIGKILL mid-stream (issue 14, defect 9): the outputs the broker had
confirmed to the sink but not yet saved or passed on died with it (the audit lost 19, one per
key at the kill). The sink publishes again, after it reconnects, what the broker confirmed in
the last moments before the connection was lost, so a subscriber with a persistent session gets
every output at least once (a repeat is an identical copy: ``(key, step)`` names each output)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

from brokers import free_port, start_mosquitto, stop_mosquitto
from sensor_feeds import keyed_records
from test_mqtt_outage import Collector, wait_until

KEYS = tuple(f"k{i}" for i in range(19))
ROUNDS = 12


class SlowCollector(Collector):
    """A subscriber that takes a few ms per message, so the broker holds a backlog for it."""

    def _on_message(self, client, userdata, message) -> None:
        time.sleep(0.005)
        super()._on_message(client, userdata, message)


def test_broker_sigkill_mid_stream_loses_no_output_at_the_subscriber(tmp_path) -> None:
    port, work = free_port(), tmp_path / "broker"
    work.mkdir()
    broker = start_mosquitto(work, port)  # persistence on, saved every second
    time.sleep(1.2)  # an autosave holds the collector's session once it is made
    collector = SlowCollector(port, "out/#", "kill-collector")
    time.sleep(1.2)
    recs = keyed_records(KEYS, ROUNDS, seed=3)
    lines = [json.dumps({"sensor": k, **rec}) + "\n" for k, rec in recs]
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--status-every", "0.1"]
    cmd += ["--sink", f"mqtt://127.0.0.1:{port}/out"]
    stream = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(stream.stderr), daemon=True).start()
    half = len(KEYS) * (ROUNDS // 2)
    try:
        stream.stdin.writelines(lines[:half])
        stream.stdin.flush()
        wait_until(lambda: f"{half} steps" in "".join(err), what="the first half stepped")
        broker.send_signal(signal.SIGKILL)  # no last save, no goodbye
        broker.wait(timeout=10)
        broker = start_mosquitto(work, port)  # comes back with what it had saved
        wait_until(
            lambda: "MQTT sink" in "".join(err) and "reconnected" in "".join(err),
            what="the sink back",
        )
        stream.stdin.writelines(lines[half:])
        stream.stdin.close()
        assert stream.wait(timeout=60) == 0, "".join(err)
        deadline = time.monotonic() + 30  # a guard: they come within a second or two
        while len(collector.got) < len(recs) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stream.kill()
        collector.close()
        stop_mosquitto(broker)
    missing = {(k, s) for k in KEYS for s in range(1, ROUNDS + 1)} - set(collector.got)
    assert not missing, f"{len(missing)} outputs lost: {sorted(missing)[:20]}"
