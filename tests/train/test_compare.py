"""`edgernn compare`: every arch exported, verified and timed; JSON fields, the bar chart, bad
--archs."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.errors import UsageError  # noqa: E402
from edgernn.train.forecast.compare import parse_archs, render  # noqa: E402
from edgernn.train.forecast.model import ARCHITECTURES  # noqa: E402

FIELDS = {
    "arch",
    "layers",
    "hidden",
    "features",
    "mode",
    "params",
    "onnx_bytes",
    "flops_per_step",
    "step_us",
    "bare_ort_us",
    "parity_max_abs_error",
    "exporter",
}


def run(*args):
    return CliRunner().invoke(main, ["compare", "--hidden", "8", "--steps", "200", "-q", *args])


def test_json_has_the_documented_fields_for_each_arch(tmp_path):
    png = tmp_path / "compare.png"
    r = run("--json", "--plot", str(png))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [a["arch"] for a in out["archs"]] == list(
        ARCHITECTURES
    )  # every supported architecture by default
    assert (
        out["hidden"] == [8]
        and out["features"] == 2
        and out["steps"] == 200
        and out["data"] is None
    )
    for a in out["archs"]:
        assert set(a) >= FIELDS and "test_mse" not in a
        assert a["onnx_bytes"] > 0 and a["parity_max_abs_error"] <= 1e-5
        assert 0 < a["step_us"]["p50"] <= a["step_us"]["p99"] and a["bare_ort_us"]["p50"] > 0
    by = {a["arch"]: a for a in out["archs"]}
    assert {n: (a["hidden"], a["mode"]) for n, a in by.items()} == {
        "rnn": ([8], "step"),
        "lstm": ([8], "step"),
        "gru": ([8], "step"),
        "gru-bn": ([8, 8], "step"),
        "lstm-deep": ([8, 4, 2], "step"),
        "bilstm": ([8], "window of 50"),
        "lstm-attn": ([8], "step"),
        "lstm-highway": ([8], "step"),
        "linear": ([], "step"),
    }
    assert by["bilstm"]["step_us"]["p50"] > by["lstm"]["step_us"]["p50"]  # a window re-run per step
    params = {a["arch"]: a["params"] for a in out["archs"] if a["arch"] in ("rnn", "gru", "lstm")}
    # 1 gate (rnn), 3 (gru), 4 (lstm) of H*(F+H) + 2H biases each, plus the head H+1
    assert params == {
        "rnn": 8 * 10 + 16 + 9,
        "gru": 3 * (8 * 10 + 16) + 9,
        "lstm": 4 * (8 * 10 + 16) + 9,
    }
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "rnn" in render(out) and "parity err" in render(out)


def test_with_data_trains_and_reports_test_mse_next_to_naive():
    r = run(
        "--archs",
        "gru",
        "--data",
        "synth:sensor?n=800",
        "--epochs",
        "1",
        "--window",
        "10",
        "--json",
    )
    assert r.exit_code == 0, r.output
    (a,) = json.loads(r.stdout)["archs"]
    assert a["arch"] == "gru" and a["test_mse"] > 0 and a["naive_mse"] > 0 and a["epochs_run"] == 1


@pytest.mark.parametrize("archs", ["rnn,transformer", "", " , "])
def test_bad_archs_is_a_one_line_usage_error(archs):
    r = run("--archs", archs)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --archs")


def test_parse_archs():
    assert parse_archs("LSTM, rnn,lstm,lstm-attn") == ("lstm", "rnn", "lstm-attn")
    with pytest.raises(UsageError, match="unknown architecture 'foo'"):
        parse_archs("foo")
