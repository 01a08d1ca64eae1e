"""Window mode (torch-free): a bidirectional model is not stepped but re-run over its latest
window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

import edgernn
from edgernn.checks import check_contract
from edgernn.cli import main
from edgernn.core.window import WindowStream
from edgernn.errors import DataError, UsageError

# rebuilt by tests/data/make_tiny.py
BILSTM = Path(__file__).parent.parent / "data" / "tiny-bilstm.onnx"
TINY = Path(__file__).parent.parent / "data" / "tiny-lstm.onnx"


@pytest.fixture(scope="module")
def bilstm() -> edgernn.Model:
    return edgernn.load(BILSTM, provider="cpu")


def rows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.array([20.0, 60.0]) + np.array([3.0, 5.0]) * rng.standard_normal((n, 2))).astype(
        np.float32
    )


def test_the_signature_declares_a_window_model_without_states(bilstm):
    sig = bilstm.signature
    assert not sig.causal and sig.window == 12 and sig.states == ()
    assert sig.outputs[0].shape == ("batch", 1, 1) and sig.parity["max_abs_error"] <= 1e-5


def test_window_stream_warms_up_then_forecasts_what_the_graph_gives_on_the_latest_window(bilstm):
    ws = bilstm.window_stream()
    assert isinstance(ws, WindowStream) and ws.window == 12
    data = rows(30)
    results = ws.steps(data)
    assert [r.warming_up for r in results] == [True] * 11 + [False] * 19
    assert all(r.forecast is None for r in results[:11]) and ws.ready
    sig = bilstm.signature
    for t in (11, 20, 29):  # the step that completes window data[t-11 : t+1]
        y, states = bilstm.run(sig.input_scaler.transform(data[t - 11 : t + 1])[None], [])
        want = float(sig.target_scaler.inverse(y[0, -1])[0])
        assert states == [] and results[t].forecast["temp"] == pytest.approx(want, abs=1e-5)
        assert results[t].step == t + 1


def test_mapping_rows_reset_and_bad_rows(bilstm):
    ws = bilstm.window_stream()
    data = rows(12, seed=1)
    first = ws.steps({"temp": float(a), "humidity": float(b)} for a, b in data)[-1]
    ws.reset()
    assert ws.n_steps == 0 and not ws.ready and ws.step(data[0]).warming_up
    again = ws.steps(data[1:])[-1]
    assert again.forecast == first.forecast  # reset == fresh, bit for bit
    with pytest.raises(DataError, match="humidity"):
        ws.step({"temp": 1.0})
    with pytest.raises(DataError, match="NaN"):
        ws.step([float("nan"), 1.0])


def test_stepping_a_window_model_says_to_use_window_stream(bilstm):
    with pytest.raises(UsageError, match=r"model\.window_stream\(\)"):
        bilstm.stream()


def test_the_stream_cli_refuses_a_window_model_in_one_line():
    r = CliRunner().invoke(main, ["stream", str(BILSTM), "--source", "demo", "--limit", "5"])
    one_clear_line(r, 2, "window model", "model.window_stream()")


def test_check_contract_on_a_window_model_runs_the_window_checks(bilstm):
    checks = check_contract(bilstm, steps=20)
    assert [c.name for c in checks] == ["shapes", "window re-run == graph", "batch independence"]
    assert all(c.passed for c in checks), [c.detail for c in checks if not c.passed]


def test_a_causal_model_can_also_run_in_window_mode():
    tiny = edgernn.load(TINY, provider="cpu")
    ws = tiny.window_stream(window=5)
    data = rows(5)
    last = ws.steps(data)[-1]
    want = tiny.stream().steps(data)[-1].forecast  # a fresh stream over the same 5 rows
    assert last.forecast["temp"] == pytest.approx(want["temp"], abs=1e-5)
