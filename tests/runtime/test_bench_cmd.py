"""`edgernn bench`: runs quickly with tiny settings, documents its JSON, fails in one line.

No timing is asserted here: timings belong in benchmarks/.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from edgernn import bench
from edgernn.cli import main
from cli_checks import one_clear_line

TINY = ("--streams", "1,4", "--chunks", "1,3", "--repeat", "small")
LATENCY = {"p50", "p90", "p99", "max", "mean"}


def run(*args: str):
    return CliRunner().invoke(main, ["bench", *args])


@pytest.fixture(scope="module")
def result() -> dict:
    r = run(*TINY, "--json")
    assert r.exit_code == 0, r.output
    assert "bench [1/" in r.stderr  # progress goes to stderr, the JSON alone to stdout
    return json.loads(r.stdout)


def test_json_has_the_documented_fields(result):
    assert set(result) >= {"edgernn", "date", "model", "run", "machine", "pool", "single_stream",
                           "hardware", "streams", "chunks", "startup", "interrupted"}
    assert result["interrupted"] is False and result["pool"] in ("used", "not available")
    assert set(result["model"]) >= {"path", "id", "arch", "layers", "features", "targets", "flops_per_step"}
    assert result["model"]["flops_per_step"] > 0
    assert result["run"]["streams"] == [1, 4] and result["run"]["chunks"] == [1, 3] and result["run"]["threads"] == 1
    assert set(result["machine"]) >= {"cpu", "cores", "flags", "python", "numpy", "onnxruntime"}


def test_single_stream_latency_has_its_percentiles(result):
    s = result["single_stream"]
    assert s["steps"] == 200 and set(s["edgernn_us"]) == LATENCY and set(s["bare_ort_us"]) == LATENCY
    assert 0 < s["edgernn_us"]["p50"] <= s["edgernn_us"]["p99"] <= s["edgernn_us"]["max"]
    assert s["ratio_p50"] > 0


def test_every_stream_count_and_chunk_is_measured_both_ways(result):
    assert [p["streams"] for p in result["streams"]] == [1, 4]
    for p in result["streams"]:
        assert p["ticks"] >= 3 and p["sgemm_gflops"] > 0
        for name in ("edgernn", "bare_ort"):
            c = p[name]
            assert set(c["tick_us"]) == LATENCY
            assert set(c) >= {"per_stream_step_us", "stream_steps_per_s", "gflops", "sgemm_fraction", "square_fraction"}
            assert c["gflops"] > 0 and c["sgemm_fraction"] > 0
    assert [p["chunk"] for p in result["chunks"]] == [1, 3]
    for p in result["chunks"]:
        for name in ("edgernn", "bare_ort"):
            assert set(p[name]) == {"call_us", "per_step_us", "steps_per_s"}


def test_hardware_line_and_startup_are_reported(result):
    hw = result["hardware"]
    assert hw["threads"] == 1 and hw["square"]["gflops"] > 0 and set(hw["matched_gflops"]) == {"1", "4"}
    st = result["startup"]
    assert st["runs"] == 1 and st["first_output_s"] > 0
    assert st["peak_rss_mb"] is None or st["peak_rss_mb"] > 0


def test_tables_on_the_terminal():
    r = run(*TINY, "--no-startup", "--quiet")
    assert r.exit_code == 0, r.output
    for words in ("Single-stream step latency", "bare ORT run()", "Throughput", "hardware line", "Chunks"):
        assert words in r.stdout
    assert "Start-up" not in r.stdout and r.stderr == ""


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.png"
    r = run(*TINY, "--no-startup", "--quiet", "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_reports_what_was_measured(monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(bench, "chunk_point", interrupt)
    r = run(*TINY, "--no-startup", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["interrupted"] is True and len(out["streams"]) == 2 and out["chunks"] == [] and out["startup"] is None
    assert "interrupted" in r.stderr


@pytest.mark.parametrize("args,words", [
    (("--streams", "1,x"), ("--streams", "1,x")),
    (("--chunks", "0"), ("--chunks",)),
    (("--repeat", "forever"), ("--repeat", "forever")),
    (("--repeat", "3"), ("--repeat",)),
])
def test_bad_option_values_are_one_line_usage_errors(args, words):
    one_clear_line(run(*args), 2, *words)


def test_plot_into_a_missing_folder_fails_before_measuring(tmp_path):
    pytest.importorskip("matplotlib")
    one_clear_line(run("--plot", str(tmp_path / "nope" / "b.png")), 2, "--plot")


def test_missing_model_is_a_model_error(tmp_path):
    one_clear_line(run(str(tmp_path / "missing.onnx")), 3, "does not exist")


def test_flops_count_the_matrix_products():
    sig = SimpleNamespace(arch="lstm", layers=(64, 64), features=("a", "b"), targets=("t",))
    assert bench.flops_per_step(sig) == 2 * 4 * 64 * (2 + 64) + 2 * 4 * 64 * (64 + 64) + 2 * 64 * 1
    gru = SimpleNamespace(arch="gru", layers=(32,), features=("a",), targets=("t", "u"))
    assert bench.flops_per_step(gru) == 2 * 3 * 32 * 33 + 2 * 32 * 2


def test_sizes_and_repeat_parse():
    assert bench.parse_sizes("1,16,16,64", "--streams") == (1, 16, 64)
    assert bench.parse_repeat("small") == bench.PRESETS["small"]
    assert bench.parse_repeat("1000").steps == 1000
