"""Broker outages against a real mosquitto: the MQTT sink rides out a broker restart without
losing an output (and blocks, bounded, while the broker is gone); messages the broker sends
again (DUP) after a lost connection are skipped as duplicates, not processed twice."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time

import pytest
from brokers import free_port, start_mosquitto, stop_mosquitto
from mqtt_clients import by_key, file_fed, out_lines, prime, publish, records, run

from edgernn.feeds.mqtt import parse_url
from edgernn.feeds.mqtt_sink import MqttSink
from edgernn.feeds.options import LiveOptions

mqtt = pytest.importorskip("paho.mqtt.client")


def wait_until(check, timeout: float = 60.0, what: str = "") -> None:
    """Poll ``check`` until it holds; the timeout is only a guard against a hang."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Collector:
    """A subscriber with a persistent session: it gets what was published while the broker was
    restarting (mosquitto keeps its queue), keyed by (key, step): QoS 1 may deliver twice."""

    def __init__(self, port: int, topic: str, client_id: str):
        self.got: dict[tuple, dict] = {}
        self.count = 0
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
        )
        self.client.reconnect_delay_set(0.2, 1)
        subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        # connected is not yet subscribed
        wait_until(subscribed.is_set, what="the collector's subscription")

    def _on_message(self, client, userdata, message) -> None:
        o = json.loads(message.payload)
        self.got[(o["key"], o["step"])] = o
        self.count += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_sink_loses_no_output_when_its_broker_restarts_mid_stream(tmp_path):
    port, work = free_port(), tmp_path / "broker"
    work.mkdir()
    broker = start_mosquitto(work, port)
    collector = Collector(port, "out/#", "outage-collector")
    recs = records()
    lines = [json.dumps({"sensor": k, **rec}) + "\n" for k, rec in recs]
    thirds = len(lines) // 3
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor"]
    cmd += ["--sink", f"mqtt://127.0.0.1:{port}/out", "--state-dir", str(tmp_path / "state")]
    cmd += ["--checkpoint-every", "10", "--status-every", "0.1"]
    cmd += ["--summary", str(tmp_path / "summary.json")]
    stream = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(stream.stderr), daemon=True).start()
    try:
        stream.stdin.writelines(lines[:thirds])
        stream.stdin.flush()
        wait_until(lambda: len(collector.got) == thirds, what="the first outputs")
        stop_mosquitto(broker)  # the sink's broker goes away (its state is persisted)...
        wait_until(
            lambda: any("connection lost" in line for line in err), what="the sink to notice"
        )
        # ...outputs made meanwhile wait in the sink...
        stream.stdin.writelines(lines[thirds : 2 * thirds])
        stream.stdin.flush()
        wait_until(
            lambda: any(f"{2 * thirds} steps" in line and "waiting" in line for line in err),
            what="outputs",
        )
        broker = start_mosquitto(work, port)  # ...and go out when it is back
        stream.stdin.writelines(lines[2 * thirds :])
        stream.stdin.flush()
        # paho's backoff decides when the sink is back (up to twice the outage): end the input only
        # then, as the sink's close waits a bounded time for the broker
        wait_until(
            lambda: any("MQTT sink" in line and "reconnected" in line for line in err),
            what="the sink back",
        )
        stream.stdin.close()
        assert stream.wait(timeout=60) == 0, "".join(err)
        wait_until(lambda: len(collector.got) == len(recs), what="every output")
    finally:
        stream.kill()
        collector.close()
        stop_mosquitto(broker)
    want = {(o["key"], o["step"]): o for outs in file_fed(tmp_path, recs).values() for o in outs}
    assert collector.got == want  # every output of a run without a restart, none lost
    s = json.loads((tmp_path / "summary.json").read_text())
    assert (s["sink_reconnects"], s["sink_undelivered"], s["state_behind"]) == (1, 0, False)
    assert s["checkpoints_postponed"] >= 1  # checkpoints waited for the broker instead of failing
    text = "".join(err)
    assert f"MQTT sink 127.0.0.1:{port}: reconnected" in text and "1 sink reconnects" in text


def test_a_full_sink_buffer_blocks_until_the_broker_is_back(tmp_path):
    port = free_port()
    broker = start_mosquitto(tmp_path, port)
    sink = MqttSink(parse_url(f"mqtt://127.0.0.1:{port}/buf", sink=True), LiveOptions(), buffer=5)
    try:
        stop_mosquitto(broker)
        wait_until(lambda: not sink.link.connected, what="the sink to notice")
        for step in range(5):
            sink.emit({"key": "a", "step": step})  # room for 5 unconfirmed outputs
        assert sink.flush() is False and sink.waiting == 5  # no wait, no crash: "not yet"
        waits = []  # the emit below waits for room in rounds of 0.2 s: count them, not the clock
        real_wait = sink._cond.wait
        sink._cond.wait = lambda timeout=None: (waits.append(timeout), real_wait(timeout))[1]
        sixth = threading.Thread(target=sink.emit, args=({"key": "a", "step": 5},))
        sixth.start()
        wait_until(lambda: len(waits) >= 3, what="the sixth output to wait for room")
        # backpressure: the stream waits, memory stays bounded
        assert sixth.is_alive() and sink._sent == 5
        broker = start_mosquitto(tmp_path, port)
        sixth.join(60)
        assert not sixth.is_alive()
        assert sink.flush() is True and sink.reconnects == 1
    finally:
        assert sink.close() == 0  # every output confirmed by the broker
        stop_mosquitto(broker)


class AckEater:
    """A TCP relay to the broker that can drop the client's PUBACKs (so the broker still holds
    messages the client has processed) and cut every connection (so the client reconnects and
    the broker sends those messages again, flagged DUP)."""

    def __init__(self, broker_port: int):
        self.broker_port, self.eat_acks, self.socks = broker_port, True, []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            self.socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        buf = b""
        try:
            while data := src.recv(65536):
                buf += data
                while (n := _packet_length(buf)) is not None:
                    packet, buf = buf[:n], buf[n:]
                    if not (from_client and self.eat_acks and packet[0] >> 4 == 4):  # 4: PUBACK
                        dst.sendall(packet)
        except OSError:
            pass

    def cut(self) -> None:
        """Drop every connection; from now on acks pass."""
        self.eat_acks = False
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _packet_length(buf: bytes) -> int | None:
    """Bytes in the first whole MQTT packet of ``buf`` (fixed header + remaining length), or
    None."""
    length, mult = 0, 1
    for i in range(1, min(len(buf), 5)):
        length += (buf[i] & 127) * mult
        if buf[i] < 128:
            return i + 1 + length if len(buf) >= i + 1 + length else None
        mult *= 128
    return None


def test_messages_sent_again_after_a_lost_connection_are_skipped_as_duplicates(broker, tmp_path):
    host, port = broker
    relay = AckEater(port)
    opts = ["--client-id", "dup-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(f"mqtt://{host}:{port}/dup/+", "dup-1", *opts[2:])
    # no timestamps
    recs = [(k, {"temp": rec["temp"], "humidity": rec["humidity"]}) for k, rec in records()[:7]]
    publish(host, port, [(f"dup/{k}", json.dumps(rec)) for k, rec in recs[:6]])
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    stream = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgernn",
            "stream",
            "--source",
            f"mqtt://127.0.0.1:{relay.port}/dup/+",
            *opts,
            "--sink",
            str(out),
            "--limit",
            "7",
            "--summary",
            str(summary),
            "--quiet",
        ]
    )
    try:
        wait_until(
            lambda: out.exists() and len(out.read_text().splitlines()) == 6, what="six outputs"
        )
        relay.cut()  # their acks never reached the broker: it sends all six again, DUP
        publish(host, port, [(f"dup/{k}", json.dumps(rec)) for k, rec in recs[6:]])
        assert stream.wait(timeout=60) == 0
    finally:
        stream.kill()
    s = json.loads(summary.read_text())
    assert (s["steps"], s["duplicates"], s["reconnects"]) == (7, 6, 1)
    # each message processed once
    assert by_key(out_lines(out.read_text())) == file_fed(tmp_path, recs)


class SlowTail:
    """A TCP relay to the broker that passes each connection's CONNECT at once and everything
    the client sends after it ``delay_s`` late, in order. A run's last PUBACKs then reach the
    broker after the next run (same client id) has connected and taken the session over, the
    race a quick restart (systemd, a cron'd --limit run) meets on a loaded machine."""

    def __init__(self, broker_port: int, delay_s: float = 0.3):
        self.broker_port, self.delay_s = broker_port, delay_s
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.broker_port))
            late: queue.Queue = queue.Queue()
            threading.Thread(
                target=self._pump_up, args=(client, upstream, late), daemon=True
            ).start()
            threading.Thread(target=self._send_late, args=(upstream, late), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _pump_up(self, src: socket.socket, dst: socket.socket, late: queue.Queue) -> None:
        buf, first = b"", True
        try:
            while data := src.recv(65536):
                buf += data
                while (n := _packet_length(buf)) is not None:
                    packet, buf = buf[:n], buf[n:]
                    if first:  # CONNECT: at once
                        dst.sendall(packet)
                        first = False
                    else:
                        late.put((time.monotonic() + self.delay_s, packet))
        except OSError:
            pass
        late.put((time.monotonic() + self.delay_s, None))

    @staticmethod
    def _send_late(dst: socket.socket, late: queue.Queue) -> None:
        while True:
            due, packet = late.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if packet is None:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(packet)
            except OSError:
                return

    @staticmethod
    def _pump_down(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_acks_reach_the_broker_before_the_next_run_takes_the_session_over(broker, tmp_path):
    """Many short --limit runs, one persistent session, each run's last acks late: every record
    comes out exactly once across the runs (the ack race behind a flaky CI run)."""
    host, port = broker
    relay = SlowTail(port)
    opts = ["--client-id", "tail-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(f"mqtt://{host}:{port}/tail/+/data", "tail-1", *opts[2:])
    recs = records()[:24]
    publish(host, port, [(f"tail/{k}/data", json.dumps(rec)) for k, rec in recs])
    got = []
    for _ in range(len(recs) // 3):
        r = run(
            "stream",
            "--source",
            f"mqtt://127.0.0.1:{relay.port}/tail/+/data",
            *opts,
            "--limit",
            "3",
            "--quiet",
        )
        assert r.exit_code == 0, r.output
        got += [(o["key"], o["timestamp"]) for o in out_lines(r.stdout)]
    assert sorted(got) == sorted((k, rec["timestamp"]) for k, rec in recs)  # none lost, none twice
