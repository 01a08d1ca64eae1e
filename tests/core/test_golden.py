"""The shipped default model still gives the outputs recorded when it was built.

Golden forecasts come from the PyTorch checkpoint (full sequence), so this also checks the
shipped graph against its source; anomaly flags come from the runtime at build time.
Rebuild both with `python -m edgernn.train.rebuild`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.feeds.files import DEMO_LENGTH, DEMO_SEED, demo_records, demo_signal
from edgernn.feeds.synth import sensor_signal


@pytest.fixture(scope="module")
def golden(model) -> dict:
    return json.loads(model.path.with_suffix("").with_suffix(".golden.json").read_text())


def test_golden_file_belongs_to_the_shipped_model(model, golden):
    assert golden["model_id"] == model.model_id
    assert golden["features"] == list(model.signature.features)


def test_golden_inputs_are_the_demo_feed(model, golden):
    # the default run's first records
    recs = [r for _, r in demo_records()][: len(golden["inputs"])]
    rows = [[r[f] for f in golden["features"]] for r in recs]
    np.testing.assert_array_equal(np.float32(rows), np.float32(golden["inputs"]))
    assert f"first {len(golden['inputs'])} records" in golden["description"]


DEFAULT_FEED = [r for _, r in demo_records()]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=3 * DEMO_LENGTH + 7))
def test_the_demo_feed_is_the_same_whatever_the_limit(n):
    got = list(demo_records(n))
    assert [pos for pos, _ in got] == list(range(1, n + 1))
    assert [r for _, r in got][:DEMO_LENGTH] == DEFAULT_FEED[:n]
    longer = [r for _, r in demo_records(n + 500)]
    assert longer[:n] == [r for _, r in got]
    assert [r["timestamp"] for _, r in got] == list(range(n))


def test_the_default_demo_feed_is_the_classic_sensor_signal():
    s = sensor_signal(DEMO_LENGTH, seed=DEMO_SEED)  # what `edgernn stream` has always printed first
    assert [r["temp"] for r in DEFAULT_FEED] == s["temp"].tolist()
    assert [r["humidity"] for r in DEFAULT_FEED] == s["humidity"].tolist()
    sig = demo_signal(2 * DEMO_LENGTH + 3)
    assert (
        sig["temp"].tolist()[:DEMO_LENGTH] == s["temp"].tolist()
        and len(sig["anomaly"]) == 2 * DEMO_LENGTH + 3
    )
    # the cycle goes on
    assert abs(float(sig["temp"][DEMO_LENGTH]) - float(sig["temp"][DEMO_LENGTH - 1])) < 2.0


def test_stepping_the_shipped_model_matches_pytorch(model, golden):
    s = model.stream()
    got = [list(s.step(r).forecast.values()) for r in np.float32(golden["inputs"])]
    scale = np.float32(model.signature.target_scaler.scale)  # 1e-5 in model units
    np.testing.assert_allclose(
        got, golden["torch_forecast"], atol=float(1e-5 * scale.max()), rtol=0
    )


def test_anomaly_flags_match_the_golden_run(model, golden):
    s = model.stream()
    results = [s.step(r) for r in np.float32(golden["inputs"])]
    assert [r.anomaly for r in results] == golden["anomaly"]
    injected = np.nonzero(demo_signal(len(results))["anomaly"])[0].tolist()
    # every injected spike, nothing else
    assert [i for i, r in enumerate(results) if r.anomaly] == injected
    scores = [np.nan if r.anomaly_score is None else r.anomaly_score for r in results]
    want = [np.nan if v is None else v for v in golden["anomaly_score"]]
    np.testing.assert_allclose(scores, want, rtol=1e-3)


def test_shipped_model_is_small_and_verified():
    path = edgernn.default_model_path()
    sig = edgernn.load(path, provider="cpu").signature
    assert path.stat().st_size < 1_000_000
    assert sig.parity["max_abs_error"] <= sig.parity["tolerance"] <= 1e-5
