"""A corpus of hostile records through every source: a file, stdin and a real MQTT broker.

The audit's kinds (huge integers, NaN/Infinity timestamps, a BOM mid-stream, binary, a lone
``\\r``, raw control characters, deep nesting, 1 MB strings, wrong types, duplicate fields, empty
lines) interleaved with good records by a hypothesis generator. Whatever the mix: the stream
ends cleanly (exit 0, no traceback), every bad record is counted with its reason in the rejects
file, the good records' outputs are exactly those of a run without the bad ones, and every
output line is strict JSON (no NaN or Infinity).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgernn.cli import main

HUGE = "9" * 5000  # over Python's 4300-digit int-from-str limit
R = b'"timestamp": 7, "temp": 20, "humidity": 40'  # the rest of a record, for bad keys

# name -> (the bad line's bytes, records it makes in a file or stdin, messages it makes in MQTT)
CORPUS: dict[str, tuple[bytes, int, int]] = {
    "huge int value": (
        b'{"sensor": "a", "timestamp": 7, "temp": %s, "humidity": 40}' % HUGE.encode(),
        1,
        1,
    ),
    "huge int key": (b'{"sensor": %s, %s}' % (HUGE.encode(), R), 1, 1),
    "huge int timestamp": (
        b'{"sensor": "a", "timestamp": %s, "temp": 2, "humidity": 4}' % HUGE.encode(),
        1,
        1,
    ),
    "NaN timestamp": (b'{"sensor": "a", "timestamp": NaN, "temp": 20, "humidity": 40}', 1, 1),
    "Infinity timestamp": (
        b'{"sensor": "b", "timestamp": Infinity, "temp": 2, "humidity": 4}',
        1,
        1,
    ),
    "1e309 timestamp": (b'{"sensor": "c", "timestamp": 1e309, "temp": 20, "humidity": 40}', 1, 1),
    "NaN value": (b'{"sensor": "a", "timestamp": 7, "temp": NaN, "humidity": 40}', 1, 1),
    "BOM mid-stream": (b'\xef\xbb\xbf{"sensor": "a", %s}' % R, 1, 1),
    "binary": (bytes(range(128, 256)) + b"\x00\x01\x02\x7f", 1, 1),
    "invalid UTF-8 key": (b'{"sensor": "\xff\xfe", %s}' % R, 1, 1),
    "lone CR splits a line": (b'{"sensor": "a", "timestamp": 7,\r"temp": 20}', 2, 1),
    "raw TAB in a key": (b'{"sensor": "a\tb", %s}' % R, 1, 1),
    "raw NUL": (b'{"sensor": "a\x00", %s}' % R, 1, 1),
    "deep nesting": (b'{"sensor": "a", "temp": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 1, 1),
    "1 MB string": (b'{"sensor": "%s", %s}' % (b"x" * (1 << 20), R), 1, 1),
    "list": (b"[1, 2, 3]", 1, 1),
    "string": (b'"hello"', 1, 1),
    "text value": (b'{"sensor": "a", "timestamp": 7, "temp": "20", "humidity": 40}', 1, 1),
    "bool value": (b'{"sensor": "a", "timestamp": 7, "temp": true, "humidity": 40}', 1, 1),
    "list key": (b'{"sensor": ["a"], %s}' % R, 1, 1),
    "object key": (b'{"sensor": {"a": 1}, %s}' % R, 1, 1),
    "null key": (b'{"sensor": null, %s}' % R, 1, 1),
    "NaN key": (b'{"sensor": NaN, %s}' % R, 1, 1),
    "duplicate field": (
        b'{"sensor": "a", "timestamp": 7, "temp": 20, "temp": 99, "humidity": 4}',
        1,
        1,
    ),
    "unknown field": (b'{"sensor": "a", "timestamp": 7, "temp": 20, "humidity": 4, "x": 1}', 1, 1),
    "missing field": (b'{"sensor": "a", "timestamp": 7, "temp": 20}', 1, 1),
    "empty line": (b"", 0, 1),
    "blank line": (b"   \t ", 0, 1),
}
KEYS = ("a", "b", "c")
ARGS = ("--key", "sensor")


def strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def good_lines(values: list[tuple[int, float, float]]) -> list[bytes]:
    """Good records: key i % 3, timestamps increasing, so every key's are in order."""
    return [
        json.dumps({"sensor": KEYS[k], "timestamp": t, "temp": v, "humidity": h}).encode()
        for t, (k, v, h) in enumerate(values)
    ]


def mixed(good: list[bytes], bad: list[tuple[int, str]]) -> list[bytes]:
    """``good`` with each bad record inserted before the good record at its index. (Not a BOM
    first: a leading BOM is stripped, and the record after it is good.)"""
    bad = [(max(min(i, len(good)), n == "BOM mid-stream"), n) for i, n in bad]
    out, at = [], sorted(bad, key=lambda b: b[0])
    for i in range(len(good) + 1):
        out += [CORPUS[name][0] for j, name in at if j == i]
        if i < len(good):
            out.append(good[i])
    return out


def check(r: Result, rejects: Path, clean: list[dict], expected_rejects: int) -> None:
    """The run ended cleanly, its outputs are ``clean``, and every bad record has a reason."""
    assert r.exit_code == 0, (r.exit_code, r.stderr[-500:], r.exception)
    assert "Traceback" not in r.stderr
    assert [strict_json(line) for line in r.stdout.splitlines()] == clean
    reasons = [json.loads(line)["reason"] for line in rejects.read_text().splitlines()]
    assert len(reasons) == expected_rejects and all(reasons), reasons


@functools.cache
def _clean(text: bytes) -> tuple[str, ...]:
    r = CliRunner().invoke(main, ["stream", "--source", "-", *ARGS], input=text)
    assert r.exit_code == 0, r.output
    return tuple(r.stdout.splitlines())


def clean_outputs(good: list[bytes]) -> list[dict]:
    """The outputs of a run of the good records alone."""
    return [strict_json(line) for line in _clean(b"\n".join(good) + b"\n")]


records = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.floats(-50, 50, allow_nan=False, width=32),
        st.floats(0, 100, allow_nan=False, width=32),
    ),
    min_size=1,
    max_size=12,
)
bad_records = st.lists(st.tuples(st.integers(0, 12), st.sampled_from(sorted(CORPUS))), max_size=8)
SETTINGS = settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_every_kind_of_hostile_record_is_rejected_with_a_reason(tmp_path: Path) -> None:
    good = good_lines([(i % 3, 20.0 + i, 50.0) for i in range(len(CORPUS) + 1)])
    bad = [(i + 1, name) for i, name in enumerate(CORPUS)]
    src, rejects = tmp_path / "in.jsonl", tmp_path / "rejects.jsonl"
    src.write_bytes(b"\n".join(mixed(good, bad)) + b"\n")
    args = ["stream", "--source", str(src), *ARGS, "--rejects", str(rejects)]
    check(
        CliRunner().invoke(main, args),
        rejects,
        clean_outputs(good),
        sum(c[1] for c in CORPUS.values()),
    )


@SETTINGS
@given(values=records, bad=bad_records)
def test_hostile_records_in_a_file(values, bad, tmp_path_factory) -> None:
    tmp = tmp_path_factory.mktemp("file")
    good = good_lines(values)
    src, rejects = tmp / "in.jsonl", tmp / "rejects.jsonl"
    src.write_bytes(b"\n".join(mixed(good, bad)) + b"\n")
    r = CliRunner().invoke(main, ["stream", "--source", str(src), *ARGS, "--rejects", str(rejects)])
    check(r, rejects, clean_outputs(good), sum(CORPUS[n][1] for _, n in bad))


@SETTINGS
@given(values=records, bad=bad_records)
def test_hostile_records_on_stdin(values, bad, tmp_path_factory) -> None:
    rejects = tmp_path_factory.mktemp("stdin") / "rejects.jsonl"
    good = good_lines(values)
    text = b"\n".join(mixed(good, bad)) + b"\n"
    r = CliRunner().invoke(
        main, ["stream", "--source", "-", *ARGS, "--rejects", str(rejects)], input=text
    )
    check(r, rejects, clean_outputs(good), sum(CORPUS[n][1] for _, n in bad))


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=records, bad=bad_records.filter(bool))
def test_hostile_records_over_mqtt(values, bad, broker, tmp_path_factory) -> None:
    from mqtt_clients import prime, publish

    host, port = broker
    tmp = tmp_path_factory.mktemp("mqtt")
    client_id = f"hostile-{tmp.name}"
    src = f"mqtt://{host}:{port}/hostile/{client_id}"
    prime(src, client_id)
    good = good_lines(values)
    messages = mixed(good, bad)
    publish(host, port, [(f"hostile/{client_id}", m) for m in messages])
    rejects = tmp / "rejects.jsonl"
    args = ["stream", "--source", src, "--client-id", client_id, *ARGS]
    r = CliRunner().invoke(main, [*args, "--limit", str(len(messages)), "--rejects", str(rejects)])
    check(r, rejects, clean_outputs(good), sum(CORPUS[n][2] for _, n in bad))
