"""State written by edgernn 0.1.0 before the layout change (tests/data/state-0.1.0, made with
the shipped model by that version) still loads, and continues exactly as it did there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import edgernn
from edgernn.core import snapshot

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


def test_old_state_has_no_drift_test_and_starts_a_fresh_one_in_stream_and_pool_alike():
    """0.1.0 saved no drift test: a stream and a pooled key restored from its snapshot start a
    fresh one and give the same results, detectors included, and their snapshots now carry it."""
    want = json.loads((OLD / "expected.json").read_text())
    model = edgernn.load()
    blob = (OLD / "stream.snapshot").read_bytes()
    s = edgernn.Stream(model, state=blob, drift_threshold=3.0)
    pool = edgernn.Pool(model, drift_threshold=3.0)
    pool.restore("k", blob)
    assert s.drift == edgernn.Stream(model, drift_threshold=3.0).drift  # fresh
    rows = [np.array([r["temp"], r["humidity"]], np.float32) for r in want["rows"][40:]]
    assert [s.step(r) for r in rows] == [pool.step(["k"], [r])[0] for r in rows]
    assert s.drift.count > 0
    again = edgernn.Stream(model, state=s.snapshot(), drift_threshold=3.0)
    assert again.drift.to_dict() == s.drift.to_dict()
    old_pool = edgernn.Pool(model)
    old_pool.load_state((OLD / "pool.state").read_bytes())
    for key in ("a", "b"):
        meta, _ = snapshot.unpack(old_pool.snapshot(key), model.model_id)
        assert meta["drift"]["count"] == 0 and meta["drift"]["up"] == [0.0]
