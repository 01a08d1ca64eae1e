"""MQTT in and out against a real mosquitto (the ``broker`` fixture): what an independent
client publishes comes out as predictions on the sink topic, per key exactly as from a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgernn.cli import main
from edgernn.synth import sensor_signal
from cli_checks import one_clear_line

mqtt = pytest.importorskip("paho.mqtt.client")  # in the test extra; missing only outside it

SENSORS = ("s1", "s2", "s3")
T = 30


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def out_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def records() -> list[tuple[str, dict]]:
    """(sensor, record) for SENSORS interleaved step by step, each sensor its own signal."""
    cols = {k: sensor_signal(T, seed=10 + i) for i, k in enumerate(SENSORS)}
    return [(k, {"timestamp": t, "temp": float(cols[k]["temp"][t]), "humidity": float(cols[k]["humidity"][t])})
            for t in range(T) for k in SENSORS]


def client(host: str, port: int) -> "mqtt.Client":
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    c.connect(host, port)
    c.loop_start()
    return c


def publish(host: str, port: int, messages: list[tuple[str, str]]) -> None:
    """Publish (topic, payload) pairs with QoS 1 and wait until the broker has every one."""
    c = client(host, port)
    try:
        infos = [c.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)  # a guard: the broker acknowledges in milliseconds
            assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()


class Collector:
    """An independent subscriber: every message on ``topic`` as (topic, payload)."""

    def __init__(self, host: str, port: int, topic: str):
        self.messages: list[tuple[str, dict]] = []
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(60), "the collector could not subscribe"

    def wait_for(self, n: int, timeout: float = 60.0) -> list[tuple[str, dict]]:
        """The messages once ``n`` have come (the timeout is only a guard against a hang)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        self.client.disconnect()
        self.client.loop_stop()
        return list(self.messages)


def prime(url: str, client_id: str, *extra: str) -> None:
    """A run that reads nothing: it leaves a persistent session (and its subscription) at the
    broker, so everything published from now on waits there for the next run."""
    r = run("stream", "--source", url, "--client-id", client_id, "--limit", "0", "--quiet", *extra)
    assert r.exit_code == 0, r.output


def file_fed(tmp_path: Path, recs: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    f = tmp_path / "feed.jsonl"
    f.write_text("".join(json.dumps({"sensor": k, **rec}) + "\n" for k, rec in recs))
    r = run("stream", "--key", "sensor", "--source", str(f), "--quiet")
    assert r.exit_code == 0, r.output
    return by_key(out_lines(r.stdout))


def by_key(outputs: list[dict]) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {}
    for o in outputs:
        got.setdefault(o["key"], []).append(o)
    return got


def test_interleaved_sensors_come_out_on_the_sink_topic_as_from_a_file(broker, tmp_path):
    host, port = broker
    src = f"mqtt://{host}:{port}/sensors/+/data"
    prime(src, "it-1", "--mqtt-key-level", "1", "--key", "sensor")
    recs = records()
    publish(host, port, [(f"sensors/{k}/data", json.dumps(rec)) for k, rec in recs])
    outs = Collector(host, port, "out/#")
    r = run("stream", "--source", src, "--client-id", "it-1", "--mqtt-key-level", "1", "--key", "sensor",
            "--sink", f"mqtt://{host}:{port}/out", "--limit", str(len(recs)))
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and f"{len(recs)} steps, {len(SENSORS)} key(s)" in r.stderr
    got = outs.wait_for(len(recs))
    assert len(got) == len(recs)
    assert all(topic == f"out/{o['key']}" for topic, o in got)
    want = file_fed(tmp_path, recs)
    assert by_key([o for _, o in got]) == want  # every key, every step, bit for bit
    assert [o["step"] for o in want["s2"]] == list(range(1, T + 1))


def test_bad_payloads_are_rejected_records_not_a_crash(broker, tmp_path):
    host, port = broker
    src = f"mqtt://{host}:{port}/bad/+"
    prime(src, "bad-1", "--mqtt-key-level", "1", "--key", "sensor")
    good = [(k, rec) for k, rec in records() if k == "s1"][:10]
    junk = ["not json", "[1, 2]", '{"temp": NaN, "humidity": 1}', "", '{"temp": 1}', "\xff\xfe"]
    msgs = [(f"bad/{k}", json.dumps(rec)) for k, rec in good[:5]] + [("bad/s1", j) for j in junk]
    msgs += [(f"bad/{k}", json.dumps(rec)) for k, rec in good[5:]]
    publish(host, port, msgs)
    rejects = tmp_path / "rejects.jsonl"
    summary = tmp_path / "summary.json"
    r = run("stream", "--source", src, "--client-id", "bad-1", "--mqtt-key-level", "1", "--key", "sensor",
            "--limit", str(len(msgs)), "--rejects", str(rejects), "--summary", str(summary), "--quiet")
    assert r.exit_code == 0, r.output
    s = json.loads(summary.read_text())
    assert (s["steps"], s["rejected"]) == (len(good), len(junk))
    assert len(rejects.read_text().splitlines()) == len(junk)
    assert by_key(out_lines(r.stdout)) == file_fed(tmp_path, good)


def test_csv_payloads_with_a_header_option_and_the_key_from_the_topic(broker, tmp_path):
    host, port = broker
    src = f"mqtt://{host}:{port}/csv/+/data"
    opts = ("--mqtt-key-level", "1", "--key", "sensor", "--csv-header", "timestamp,temp,humidity")
    prime(src, "csv-1", *opts)
    recs = records()[:24]
    publish(host, port, [(f"csv/{k}/data", f"{rec['timestamp']},{rec['temp']!r},{rec['humidity']!r}") for k, rec in recs])
    out = tmp_path / "out.jsonl"
    out.write_text("")  # the file sink appends
    r = run("stream", "--source", src, "--client-id", "csv-1", *opts, "--limit", str(len(recs)), "--sink", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    got = by_key(out_lines(out.read_text()))
    want = file_fed(tmp_path, recs)
    assert got == want  # a numeric timestamp cell comes back as a number, as from JSON


def test_persistent_session_keeps_what_was_published_while_stopped(broker):
    host, port = broker
    src = f"mqtt://{host}:{port}/persist/#"
    prime(src, "keep-1")
    recs = [json.dumps(rec) for k, rec in records() if k == "s1"][:6]
    publish(host, port, [("persist/a", m) for m in recs[:3]])
    first = run("stream", "--source", src, "--client-id", "keep-1", "--limit", "3", "--quiet")
    publish(host, port, [("persist/a", m) for m in recs[3:]])
    second = run("stream", "--source", src, "--client-id", "keep-1", "--limit", "3", "--quiet")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert [o["timestamp"] for o in out_lines(first.stdout) + out_lines(second.stdout)] == list(range(6))


def test_credentials_are_never_printed(broker, monkeypatch):
    host, port = broker
    closed = port + 1 if port < 65535 else port - 1
    r = run("stream", "--source", f"mqtt://edge:s3cr3t-pw@127.0.0.1:{closed}/t/#")
    one_clear_line(r, 5, f"127.0.0.1:{closed}", "cannot reach")
    assert "s3cr3t-pw" not in r.output and "edge:" not in r.output
    monkeypatch.setenv("EDGERNN_MQTT_USERNAME", "edge")
    monkeypatch.setenv("EDGERNN_MQTT_PASSWORD", "env-s3cr3t")
    r = run("stream", "--source", f"mqtt://127.0.0.1:{closed}/t/#", "--sink", f"mqtt://127.0.0.1:{closed}/out")
    one_clear_line(r, 5)
    assert "env-s3cr3t" not in r.output


def test_env_credentials_reach_the_broker_and_stay_out_of_the_summary(broker, monkeypatch, tmp_path):
    host, port = broker
    monkeypatch.setenv("EDGERNN_MQTT_PASSWORD", "env-s3cr3t")
    monkeypatch.setenv("EDGERNN_MQTT_USERNAME", "edge")
    summary = tmp_path / "s.json"
    r = run("stream", "--source", f"mqtt://{host}:{port}/creds/#", "--limit", "0", "--summary", str(summary))
    assert r.exit_code == 0, r.output
    assert "env-s3cr3t" not in r.output + summary.read_text()


def test_missing_tls_ca_file_is_one_clear_line(broker, tmp_path):
    host, port = broker
    missing = tmp_path / "ca.pem"
    one_clear_line(run("stream", "--source", f"mqtt://{host}:{port}/t/#", "--tls-ca", str(missing)), 5, "--tls-ca", "ca.pem")


@pytest.mark.parametrize("args, words", [
    (("--format", "csv"), ("--csv-header",)),
    (("--mqtt-key-level", "1"), ("--key",)),
    (("--csv-header", "temp,humidity", "--format", "jsonl"), ("--csv-header",)),
])
def test_option_mistakes_are_usage_errors(broker, args, words):
    host, port = broker
    one_clear_line(run("stream", "--source", f"mqtt://{host}:{port}/t/+", *args), 2, *words)


def test_url_without_topic_or_with_a_bad_port_is_a_usage_error():
    one_clear_line(run("stream", "--source", "mqtt://127.0.0.1:1883"), 2, "no topic")
    one_clear_line(run("stream", "--source", "mqtt://127.0.0.1:99999/t"), 2, "99999")
    one_clear_line(run("stream", "--source", "demo", "--sink", "mqtt://127.0.0.1:1883/out/#"), 2, "wildcard")


def test_mosquitto_pub_as_the_publisher(broker):
    host, port = broker
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        pytest.fail("mosquitto_pub is missing: apt-get install -y mosquitto-clients", pytrace=False)
    src = f"mqtt://{host}:{port}/cli/+/data"
    prime(src, "cli-1", "--mqtt-key-level", "1", "--key", "sensor")
    recs = [(k, rec) for k, rec in records()][:6]
    for k, rec in recs:
        subprocess.run([pub, "-h", host, "-p", str(port), "-q", "1", "-t", f"cli/{k}/data", "-m", json.dumps(rec)],
                       check=True, timeout=60)
    r = run("stream", "--source", src, "--client-id", "cli-1", "--mqtt-key-level", "1", "--key", "sensor",
            "--limit", str(len(recs)), "--quiet")
    assert r.exit_code == 0, r.output
    assert sorted((o["key"], o["timestamp"]) for o in out_lines(r.stdout)) == sorted((k, rec["timestamp"]) for k, rec in recs)


BLOCK_FEEDS = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("paho", "serial"):
            raise ImportError(name + " is blocked", name=name)
sys.meta_path.insert(0, Block())
"""


def test_without_the_feeds_extra_the_error_says_how_to_install_it(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCK_FEEDS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    for args in (["--source", "mqtt://127.0.0.1:1/t/#"], ["--source", "demo", "--sink", "mqtt://127.0.0.1:1/o"],
                 ["--source", "serial:///dev/ttyS0"]):
        r = subprocess.run([sys.executable, "-m", "edgernn", "stream", *args], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
        assert "pip install 'edgernn[feeds]'" in r.stderr


def start_broker(work: Path, port: int) -> subprocess.Popen:
    """A mosquitto of this test's own (so it can be restarted), persistence in ``work``."""
    from conftest import start_mosquitto

    return start_mosquitto(work, port)


def test_broker_restart_mid_stream_loses_nothing(tmp_path):
    from conftest import free_port

    port, work = free_port(), tmp_path / "broker"
    work.mkdir()
    broker = start_broker(work, port)
    src = f"mqtt://127.0.0.1:{port}/sensors/+/data"
    opts = ["--client-id", "restart-1", "--mqtt-key-level", "1", "--key", "sensor"]
    prime(src, "restart-1", *opts[2:])
    recs, sink = records(), tmp_path / "out.jsonl"
    half = len(recs) // 2
    stream = subprocess.Popen([sys.executable, "-m", "edgernn", "stream", "--source", src, *opts, "--sink", str(sink),
                               "--summary", str(tmp_path / "summary.json")], stderr=subprocess.PIPE, text=True)

    def wait_for_outputs(n: int) -> None:
        deadline = time.monotonic() + 60  # a guard against a hang, not a pace
        while not sink.exists() or len(sink.read_text().splitlines()) < n:
            assert time.monotonic() < deadline and stream.poll() is None, f"{n} outputs did not come"
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


def make_certs(work: Path) -> None:
    """A throwaway CA (ca.pem), a server certificate for 127.0.0.1 and a client certificate it
    signed (server.*, client.*), and a CA of no one's (other.pem), made with openssl in ``work``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need openssl (Debian package openssl)", pytrace=False)

    def sh(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=work, check=True, capture_output=True)

    def signed(name: str, cn: str, ext: str = "") -> None:
        sh("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        extra = ["-extfile", f"{name}.cnf"] if ext else []
        if ext:
            (work / f"{name}.cnf").write_text(ext)
        sh("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
           *extra, "-out", f"{name}.pem")

    for ca, cn in (("ca", "edgernn-test-ca"), ("other", "other-ca")):
        sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={cn}",
           "-keyout", f"{ca}.key", "-out", f"{ca}.pem")
    signed("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n")
    signed("client", "edgernn-client")


def tls_broker(work: Path, port: int, require_certificate: bool = False) -> subprocess.Popen:
    """mosquitto with a TLS listener using ``make_certs``' server certificate."""
    from conftest import start_mosquitto

    return start_mosquitto(work, port, f"allow_anonymous true\ncafile {work}/ca.pem\ncertfile {work}/server.pem\n"
                                       f"keyfile {work}/server.key\nrequire_certificate {str(require_certificate).lower()}\n")


def test_tls_broker_with_our_ca_streams_and_a_wrong_ca_is_refused(tmp_path):
    """A real TLS listener (a throwaway CA and server certificate made with openssl)."""
    from conftest import free_port, stop_mosquitto

    make_certs(tmp_path)
    port = free_port()
    broker = tls_broker(tmp_path, port)
    try:
        src = f"mqtts://127.0.0.1:{port}/tls/+/data"
        opts = ["--client-id", "tls-1", "--mqtt-key-level", "1", "--key", "sensor", "--tls-ca", str(tmp_path / "ca.pem")]
        assert run("stream", "--source", src, *opts, "--limit", "0", "--quiet").exit_code == 0
        recs = records()[:9]
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        c.tls_set(ca_certs=str(tmp_path / "ca.pem"))
        c.connect("127.0.0.1", port)
        c.loop_start()
        for k, rec in recs:
            info = c.publish(f"tls/{k}/data", json.dumps(rec), qos=1)
            info.wait_for_publish(timeout=60)
            assert info.is_published()  # else the --limit run below would wait for it for ever
        c.disconnect()
        c.loop_stop()
        r = run("stream", "--source", src, *opts, "--limit", str(len(recs)), "--quiet")
        assert r.exit_code == 0, r.output
        assert by_key(out_lines(r.stdout)) == file_fed(tmp_path, recs)
        wrong = run("stream", "--source", src, "--client-id", "tls-2", "--tls-ca", str(tmp_path / "other.pem"), "--limit", "0")
        one_clear_line(wrong, 5, "MQTT broker")
    finally:
        stop_mosquitto(broker)


def test_tls_client_certificate_is_sent_and_required(tmp_path):
    """A listener with require_certificate: --tls-cert/--tls-key get in (source and sink), no
    certificate is one clear line."""
    from conftest import free_port, stop_mosquitto

    make_certs(tmp_path)
    port = free_port()
    broker = tls_broker(tmp_path, port, require_certificate=True)
    ca = ["--tls-ca", str(tmp_path / "ca.pem")]
    cert = ["--tls-cert", str(tmp_path / "client.pem"), "--tls-key", str(tmp_path / "client.key")]
    try:
        src = f"mqtts://127.0.0.1:{port}/cert/#"
        assert run("stream", "--source", src, *ca, *cert, "--limit", "0", "--quiet").exit_code == 0
        r = run("stream", "--source", "demo", "--limit", "3", "--sink", f"mqtts://127.0.0.1:{port}/out", *ca, *cert)
        assert r.exit_code == 0 and "3 steps" in r.stderr, r.output
        one_clear_line(run("stream", "--source", src, *ca, "--limit", "0"), 5, f"127.0.0.1:{port}", "--tls-cert")
    finally:
        stop_mosquitto(broker)
