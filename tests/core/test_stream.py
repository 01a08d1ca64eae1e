"""Streaming equivalence: the core promise of the runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.errors import DataError, StateError, UsageError


def forecasts(results) -> np.ndarray:
    return np.array([list(r.forecast.values()) for r in results])


def stepped(model, rows) -> list:
    s = model.stream()
    return [s.step(r) for r in rows]


def test_step_equals_one_full_chunk(model, rows):
    one_by_one = forecasts(stepped(model, rows))
    full = forecasts(model.stream().steps(rows))
    np.testing.assert_allclose(one_by_one, full, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunks_agree_with_single_steps(model, rows, chunk):
    s = model.stream()
    chunked = [r for i in range(0, len(rows), chunk) for r in s.steps(rows[i : i + chunk])]
    np.testing.assert_allclose(forecasts(chunked), forecasts(stepped(model, rows)), atol=1e-5)
    assert [r.step for r in chunked] == list(range(1, len(rows) + 1))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 20), min_size=1, max_size=12))
def test_any_chunking_gives_the_same_stream(model, rows, cuts):
    s, out, i = model.stream(), [], 0
    for c in cuts:
        out += s.steps(rows[i : i + c])
        i += c
    expected = stepped(model, rows[:i])[: len(out)]
    np.testing.assert_allclose(forecasts(out), forecasts(expected), atol=1e-5)
    assert [r.anomaly for r in out] == [r.anomaly for r in expected]


def test_reset_equals_fresh_stream(model, rows):
    s = model.stream()
    s.steps(rows[:50])
    s.reset()
    assert s.n_steps == 0
    again = [s.step(r) for r in rows]
    assert again == stepped(model, rows)


def test_snapshot_restore_continues_bit_identically(model, rows):
    s = model.stream()
    s.steps(rows[:60])
    blob = s.snapshot()
    restored = model.stream(state=blob)
    assert [restored.step(r) for r in rows[60:]] == [s.step(r) for r in rows[60:]]


def test_snapshot_into_another_model_is_refused(model, rows):
    other = edgernn.load(Path(__file__).parent.parent / "data" / "tiny-lstm.onnx", provider="cpu")
    s = other.stream()
    s.step(rows[0])
    with pytest.raises(StateError, match="belongs to model"):
        model.stream(state=s.snapshot())


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_snapshot_is_refused_whole(model, rows, damage):
    s = model.stream()
    s.steps(rows[:10])
    blob = bytearray(s.snapshot())
    if damage == "truncate":
        blob = blob[:-7]
    elif damage == "flip":
        blob[len(blob) // 2] ^= 0x01
    else:
        blob = bytearray(b"hello" * 20)
    with pytest.raises(StateError):
        model.stream(state=bytes(blob))


def test_forecast_leaves_the_live_stream_untouched(model, rows):
    s = model.stream()
    s.steps(rows[:40])
    before = [x.copy() for x in s.states]
    ahead = s.forecast(5)
    assert ahead.shape == (5, len(model.signature.targets))
    for a, b in zip(before, s.states):
        np.testing.assert_array_equal(a, b)
    assert [s.step(r) for r in rows[40:]] == stepped(model, rows)[40:]


def test_forecast_is_recursive_on_the_targets(model, rows):
    s = model.stream()
    last = s.steps(rows[:40])[-1]
    ahead = s.forecast(3)
    assert ahead[0, 0] == pytest.approx(last.forecast["temp"])
    # by hand: feed the forecast back as temp, hold humidity
    fork = model.stream(state=s.snapshot())
    r1 = fork.step([ahead[0, 0], rows[39, 1]])
    r2 = fork.step([r1.forecast["temp"], rows[39, 1]])
    np.testing.assert_allclose(ahead[1:, 0], [r1.forecast["temp"], r2.forecast["temp"]], atol=1e-5)


def test_inputs_by_name_or_position_agree(model, rows):
    a = model.stream().step({"temp": float(rows[0, 0]), "humidity": float(rows[0, 1])})
    b = model.stream().step([float(rows[0, 0]), float(rows[0, 1])])
    assert a == b


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"temp": 1.0}, "missing feature"),
        ([1.0], "expected 2 values"),
        ([float("nan"), 1.0], "NaN or inf"),
    ],
)
def test_bad_inputs_are_clear_errors(model, bad, match):
    with pytest.raises(DataError, match=match):
        model.stream().step(bad)


def test_forecast_needs_a_step_and_a_positive_horizon(model, rows):
    s = model.stream()
    with pytest.raises(UsageError, match="at least one step"):
        s.forecast(3)
    s.step(rows[0])
    with pytest.raises(UsageError, match="horizon"):
        s.forecast(0)


def test_spike_is_flagged_as_anomaly(model, rows):
    s = model.stream()
    results = s.steps(rows[:100])
    assert not any(r.anomaly for r in results[30:])  # the clean demo slice has no anomaly
    spike = rows[100].copy()
    spike[0] += 15.0
    assert s.step(spike).anomaly


def test_device_resident_state_path_gives_the_same_stream(rows):
    """The CUDA code path (state in ORT-allocated OrtValues, never copied to the host between
    steps) run on the CPU device: same numbers, same snapshots."""
    on_device = edgernn.load(provider="cpu")
    on_device.state_device = "cpu"
    host = edgernn.load(provider="cpu")
    a, b = on_device.stream(), host.stream()
    assert [a.step(r) for r in rows[:40]] == [b.step(r) for r in rows[:40]]
    assert a.steps(rows[40:60]) == b.steps(rows[40:60])
    restored = on_device.stream(state=b.snapshot())
    assert [restored.step(r) for r in rows[60:]] == [b.step(r) for r in rows[60:]]
    np.testing.assert_array_equal(restored.forecast(4), b.forecast(4))
