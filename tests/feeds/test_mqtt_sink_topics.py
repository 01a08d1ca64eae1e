"""MQTT sink topics for any key, against a real mosquitto: a key MQTT forbids in a topic (TAB,
``/``, ``+``, ``#``, one too long for a topic) gets an escaped or hashed topic of its own, and
every other key's outputs still arrive (issue #14: a TAB key stopped all sink output)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mqtt_clients import Collector, by_key

from edgernn.cli import main
from edgernn.feeds.mqtt import parse_url
from edgernn.feeds.mqtt_sink import MAX_LEVEL, MqttSink, key_of_level, topic_level
from edgernn.feeds.options import LiveOptions

LONG = "k" * 70_000  # its topic would pass MQTT's 65,535-byte limit
KEYS = ["ok1", "a\tb", "a/b", "a_b", "+", "#", "x+y#z", "50%", LONG, "ok2", "sensor-7"]
ROUNDS = 2


def feed() -> str:
    recs = [
        {"sensor": k, "temp": 20.0 + i, "humidity": 50.0 - i} for i in range(ROUNDS) for k in KEYS
    ]
    return "".join(json.dumps(r) + "\n" for r in recs)


def test_keys_mqtt_forbids_get_topics_of_their_own_and_block_no_other_key(broker):
    host, port = broker
    outs = Collector(host, port, "fc/#")
    r = CliRunner().invoke(
        main,
        ["stream", "--source", "-", "--key", "sensor", "--sink", f"mqtt://{host}:{port}/fc"],
        input=feed(),
    )
    assert r.exit_code == 0, r.output
    assert f"{ROUNDS * len(KEYS)} steps, {len(KEYS)} key(s)" in r.stderr
    got = outs.wait_for(ROUNDS * len(KEYS))
    outputs = by_key([o for _, o in got])
    assert sorted(outputs) == sorted(KEYS)  # every key's outputs delivered, the bad ones too
    assert all([o["step"] for o in outputs[k]] == [1, 2] for k in KEYS)
    topics: dict[str, set[str]] = {}
    for topic, o in got:
        topics.setdefault(o["key"], set()).add(topic)
    assert all(len(t) == 1 for t in topics.values())  # one topic per key
    topic_of = {k: t.pop() for k, t in topics.items()}
    assert len(set(topic_of.values())) == len(KEYS)  # distinct keys, distinct topics
    # plain keys keep the topics they always had
    assert (topic_of["ok1"], topic_of["sensor-7"]) == ("fc/ok1", "fc/sensor-7")
    assert topic_of["a/b"] == "fc/a%2Fb" and topic_of["a_b"] == "fc/a_b"
    assert (topic_of["a\tb"], topic_of["+"], topic_of["#"]) == ("fc/a%09b", "fc/%2B", "fc/%23")
    for key, topic in topic_of.items():
        level = topic.removeprefix("fc/")
        assert "/" not in level and not set("+#") & set(level)
        assert len(level.encode()) <= MAX_LEVEL
        if key != LONG:
            assert key_of_level(level) == key  # reversible unless hashed
    assert topic_of[LONG].startswith("fc/kkkk") and "%%" in topic_of[LONG]


@pytest.mark.parametrize(
    "key",
    ["s1", "a\tb", "a/b", "%2F", "\x00", "\x7f\x85", "é€😀", "\udcff", "\ufffe", "+#/%"],
)
def test_every_short_key_comes_back_from_its_topic_level(key):
    level = topic_level(key)
    assert key_of_level(level) == key
    assert level.isprintable() and not set("+#/\x00") & set(level)


def test_long_keys_that_share_a_start_get_distinct_stable_topics():
    a, b = "z" * 500 + "a", "z" * 500 + "b"
    assert topic_level(a) != topic_level(b)
    assert topic_level(a) == topic_level("z" * 500 + "a")  # stable: the same key, the same topic
    assert max(len(topic_level(k).encode()) for k in (a, b, "/" * 1000)) <= MAX_LEVEL
    with pytest.raises(ValueError, match="hashed"):
        key_of_level(topic_level(a))


def test_an_output_that_cannot_be_published_is_counted_and_skipped_not_retried(broker):
    host, port = broker
    prefix = "p" * 65_400  # room for short keys only: MQTT topics end at 65,535 bytes
    outs = Collector(host, port, f"{prefix}/#")
    notes: list[str] = []
    sink = MqttSink(
        parse_url(f"mqtt://{host}:{port}/{prefix}", sink=True), LiveOptions(notify=notes.append)
    )
    try:
        sink.emit({"key": "s1", "step": 1})
        sink.emit({"key": "y" * 200, "step": 1})  # a 65,601-byte topic: paho refuses it
        sink.emit({"key": "s2", "step": 1})
        assert sink.flush() is True  # nothing left waiting for the broker
        assert sink.rejected == 1
    finally:
        assert sink.close() == 0  # every published output confirmed, exit code stays 0
    got = outs.wait_for(2)
    assert [o["key"] for _, o in got] == ["s1", "s2"]
    assert any("could not be published" in n and "skipped" in n for n in notes)
