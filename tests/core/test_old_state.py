"""State written by edgernn 0.1.0 before the layout change (tests/data/state-0.1.0, made with
the shipped model by that version) still loads, and continues exactly as it did there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import edgernn

OLD = Path(__file__).resolve().parents[1] / "data" / "state-0.1.0"


def test_a_stream_snapshot_from_0_1_0_continues_as_it_did_there():
    want = json.loads((OLD / "expected.json").read_text())
    s = edgernn.load().stream(state=(OLD / "stream.snapshot").read_bytes())
    got = [s.step(r).forecast["temp"] for r in want["rows"][40:]]
    assert got == want["stream_after"]


def test_a_pool_checkpoint_from_0_1_0_loads_with_its_keys_and_extra():
    want = json.loads((OLD / "expected.json").read_text())
    pool = edgernn.load().pool()
    extra = pool.load_state((OLD / "pool.state").read_bytes())
    assert extra["note"].startswith("written by edgernn 0.1.0") and set(pool.keys()) == {"a", "b"}
    rows = [np.array([r["temp"], r["humidity"]], np.float32) for r in want["rows"][40:]]
    got = [pool.step(["a"], [row])[0].forecast["temp"] for row in rows]
    assert got == want["pool_after_a"]
