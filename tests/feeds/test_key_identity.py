"""Key identity (issue 14, defect 8): a key is its JSON value's type and text, so ``1``, ``"1"``,
``true``, ``"True"`` and ``1.0`` are five series, written back as they came, and they stay five
through a ``--state-dir`` restart. A key that is not valid UTF-8 is a rejected record (two
different bad byte strings used to merge into one U+FFFD key)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from edgernn.cli import main
from edgernn.feeds.keys import key_id, key_value

KEYS = [1, "1", True, "True", 1.0, "\x001", "a"]


def _records(ts: int) -> bytes:
    lines = [
        json.dumps({"sensor": k, "timestamp": ts, "temp": 20.0 + i, "humidity": 50.0})
        for i, k in enumerate(KEYS)
    ]
    bad = [  # invalid UTF-8 keys: the bytes differ, the replacement character would not
        b'{"sensor": "caf\xe9", "timestamp": %d, "temp": 20, "humidity": 50}' % ts,
        b'{"sensor": "caf\xff", "timestamp": %d, "temp": 20, "humidity": 50}' % ts,
    ]
    return b"\n".join([line.encode() for line in lines] + bad) + b"\n"


def _run(tmp_path: Path, ts: int, state: Path) -> tuple[list[dict], list[dict], str]:
    src, rejects = tmp_path / f"in{ts}.jsonl", tmp_path / f"rejects{ts}.jsonl"
    src.write_bytes(_records(ts))
    args = ["stream", "--source", str(src), "--key", "sensor", "--state-dir", str(state)]
    r = CliRunner().invoke(main, [*args, "--rejects", str(rejects)])
    assert r.exit_code == 0, r.output
    outputs = [json.loads(line) for line in r.stdout.splitlines()]
    return outputs, [json.loads(line) for line in rejects.read_text().splitlines()], r.stderr


def test_distinct_json_keys_stay_distinct_through_outputs_and_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, rejected, err = _run(tmp_path, 1, state)
    assert f"{len(KEYS)} key(s)" in err
    # every key written back as its JSON value, type included, each its own series
    assert [(o["key"], type(o["key"])) for o in first] == [(k, type(k)) for k in KEYS]
    assert all(o["step"] == 1 for o in first)
    assert [r["reason"] for r in rejected] == [
        "key 'caf\\udce9' is not valid UTF-8; send the key as UTF-8 text",
        "key 'caf\\udcff' is not valid UTF-8; send the key as UTF-8 text",
    ]
    second, _, err = _run(tmp_path, 2, state)  # resumed from the state directory
    assert f"{len(KEYS)} key(s)" in err
    assert [(o["key"], type(o["key"])) for o in second] == [(k, type(k)) for k in KEYS]
    assert all(o["step"] == 2 for o in second)  # each key resumed its own stream


def test_key_ids_are_distinct_and_reversible() -> None:
    ids = [key_id(k) for k in KEYS]
    assert len(set(ids)) == len(KEYS)
    assert [(key_value(i), type(key_value(i))) for i in ids] == [(k, type(k)) for k in KEYS]
