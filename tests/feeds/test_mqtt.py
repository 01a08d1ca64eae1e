"""MQTT in and out against a real mosquitto (the ``broker`` fixture): what an independent
client publishes comes out as predictions on the sink topic, per key exactly as from a file.
A broker restart mid-stream: test_mqtt_restart.py; TLS: test_mqtt_tls.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from cli_checks import one_clear_line
from mqtt_clients import (
    SENSORS,
    Collector,
    T,
    by_key,
    file_fed,
    out_lines,
    prime,
    publish,
    records,
    run,
)


def test_interleaved_sensors_come_out_on_the_sink_topic_as_from_a_file(broker, tmp_path):
    host, port = broker
    src = f"mqtt://{host}:{port}/sensors/+/data"
    prime(src, "it-1", "--mqtt-key-level", "1", "--key", "sensor")
    recs = records()
    publish(host, port, [(f"sensors/{k}/data", json.dumps(rec)) for k, rec in recs])
    outs = Collector(host, port, "out/#")
    r = run(
        "stream",
        "--source",
        src,
        "--client-id",
        "it-1",
        "--mqtt-key-level",
        "1",
        "--key",
        "sensor",
        "--sink",
        f"mqtt://{host}:{port}/out",
        "--limit",
        str(len(recs)),
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == "" and f"{len(recs)} steps, {len(SENSORS)} key(s)" in r.stderr
    # the first thing a gateway's log shows: where it listens
    assert f"MQTT source: connected to {host}:{port}, subscribed to sensors/+/data" in r.stderr
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
    r = run(
        "stream",
        "--source",
        src,
        "--client-id",
        "bad-1",
        "--mqtt-key-level",
        "1",
        "--key",
        "sensor",
        "--limit",
        str(len(msgs)),
        "--rejects",
        str(rejects),
        "--summary",
        str(summary),
        "--quiet",
    )
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
    publish(
        host,
        port,
        [
            (f"csv/{k}/data", f"{rec['timestamp']},{rec['temp']!r},{rec['humidity']!r}")
            for k, rec in recs
        ],
    )
    out = tmp_path / "out.jsonl"
    out.write_text("")  # the file sink appends
    r = run(
        "stream",
        "--source",
        src,
        "--client-id",
        "csv-1",
        *opts,
        "--limit",
        str(len(recs)),
        "--sink",
        str(out),
        "--quiet",
    )
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
    assert [o["timestamp"] for o in out_lines(first.stdout) + out_lines(second.stdout)] == list(
        range(6)
    )


def test_credentials_are_never_printed(broker, monkeypatch):
    host, port = broker
    closed = port + 1 if port < 65535 else port - 1
    r = run("stream", "--source", f"mqtt://edge:s3cr3t-pw@127.0.0.1:{closed}/t/#")
    one_clear_line(r, 5, f"127.0.0.1:{closed}", "cannot reach")
    assert "s3cr3t-pw" not in r.output and "edge:" not in r.output
    monkeypatch.setenv("EDGERNN_MQTT_USERNAME", "edge")
    monkeypatch.setenv("EDGERNN_MQTT_PASSWORD", "env-s3cr3t")
    r = run(
        "stream",
        "--source",
        f"mqtt://127.0.0.1:{closed}/t/#",
        "--sink",
        f"mqtt://127.0.0.1:{closed}/out",
    )
    one_clear_line(r, 5)
    assert "env-s3cr3t" not in r.output


def test_env_credentials_reach_the_broker_and_stay_out_of_the_summary(
    broker, monkeypatch, tmp_path
):
    host, port = broker
    monkeypatch.setenv("EDGERNN_MQTT_PASSWORD", "env-s3cr3t")
    monkeypatch.setenv("EDGERNN_MQTT_USERNAME", "edge")
    summary = tmp_path / "s.json"
    r = run(
        "stream",
        "--source",
        f"mqtt://{host}:{port}/creds/#",
        "--limit",
        "0",
        "--summary",
        str(summary),
    )
    assert r.exit_code == 0, r.output
    assert "env-s3cr3t" not in r.output + summary.read_text()


def test_missing_tls_ca_file_is_one_clear_line(broker, tmp_path):
    host, port = broker
    missing = tmp_path / "ca.pem"
    one_clear_line(
        run("stream", "--source", f"mqtt://{host}:{port}/t/#", "--tls-ca", str(missing)),
        5,
        "--tls-ca",
        "ca.pem",
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (("--format", "csv"), ("--csv-header",)),
        (("--mqtt-key-level", "1"), ("--key",)),
        (("--csv-header", "temp,humidity", "--format", "jsonl"), ("--csv-header",)),
    ],
)
def test_option_mistakes_are_usage_errors(broker, args, words):
    host, port = broker
    one_clear_line(run("stream", "--source", f"mqtt://{host}:{port}/t/+", *args), 2, *words)


def test_url_without_topic_or_with_a_bad_port_is_a_usage_error():
    one_clear_line(run("stream", "--source", "mqtt://127.0.0.1:1883"), 2, "no topic")
    one_clear_line(run("stream", "--source", "mqtt://127.0.0.1:99999/t"), 2, "99999")
    one_clear_line(
        run("stream", "--source", "demo", "--sink", "mqtt://127.0.0.1:1883/out/#"), 2, "wildcard"
    )


def test_mosquitto_pub_as_the_publisher(broker):
    host, port = broker
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        pytest.fail("mosquitto_pub is missing: apt-get install -y mosquitto-clients", pytrace=False)
    src = f"mqtt://{host}:{port}/cli/+/data"
    prime(src, "cli-1", "--mqtt-key-level", "1", "--key", "sensor")
    recs = [(k, rec) for k, rec in records()][:6]
    for k, rec in recs:
        subprocess.run(
            [
                pub,
                "-h",
                host,
                "-p",
                str(port),
                "-q",
                "1",
                "-t",
                f"cli/{k}/data",
                "-m",
                json.dumps(rec),
            ],
            check=True,
            timeout=60,
        )
    r = run(
        "stream",
        "--source",
        src,
        "--client-id",
        "cli-1",
        "--mqtt-key-level",
        "1",
        "--key",
        "sensor",
        "--limit",
        str(len(recs)),
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    assert sorted((o["key"], o["timestamp"]) for o in out_lines(r.stdout)) == sorted(
        (k, rec["timestamp"]) for k, rec in recs
    )


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
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    )
    for args in (
        ["--source", "mqtt://127.0.0.1:1/t/#"],
        ["--source", "demo", "--sink", "mqtt://127.0.0.1:1/o"],
        ["--source", "serial:///dev/ttyS0"],
    ):
        r = subprocess.run(
            [sys.executable, "-m", "edgernn", "stream", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
        assert "pip install 'edgernn[feeds]'" in r.stderr


def test_a_subscription_named_like_the_ack_barrier_keeps_its_session(broker):
    """The ack barrier unsubscribes a topic at every close; a user subscribed to exactly that
    topic must keep the subscription: what is published between runs waits for the next."""
    host, port = broker
    src = f"mqtt://{host}:{port}/edgernn/ack-barrier"
    prime(src, "barrier-1")  # opens the session, then closes (through the barrier)
    recs = [rec for key, rec in records() if key == "s1"][:3]  # one sensor: rising timestamps
    publish(host, port, [("edgernn/ack-barrier", json.dumps(rec)) for rec in recs])
    cmd = [sys.executable, "-m", "edgernn", "stream", "--source", src, "--client-id", "barrier-1"]
    r = subprocess.run(
        [*cmd, "--limit", "3", "--quiet"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and len(out_lines(r.stdout)) == 3, r.stderr
