"""The MQTT tests' own clients and records: an independent publisher and subscriber, the
interleaved sensor records they send, and `edgernn stream` runs to compare against a file."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sensor_feeds import keyed_records

from edgernn.cli import main

mqtt = pytest.importorskip("paho.mqtt.client")  # in the test extra; missing only outside it

SENSORS = ("s1", "s2", "s3")
T = 30


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def out_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def records() -> list[tuple[str, dict]]:
    """(sensor, record) for SENSORS interleaved step by step, each sensor its own signal."""
    return keyed_records(SENSORS, T, seed=10)


def client(host: str, port: int) -> mqtt.Client:
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
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload))
        )
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
