"""`edgernn bench`: runs quickly with tiny settings, documents its JSON, exits 130 after
Ctrl-C with what it measured, fails in one line (every kind of model: test_bench_kinds.py).

No timing is asserted here: timings belong in benchmarks/.
"""

from __future__ import annotations

import doctest
import json

import pytest
from bench_fields import LATENCY, MODEL, POINT, TINY, TOP, run
from cli_checks import one_clear_line
from click.testing import CliRunner

from edgernn.bench import measure
from edgernn.bench import plot as benchplot
from edgernn.bench import run as bench
from edgernn.cli import main


@pytest.fixture(scope="module")
def result() -> dict:
    r = run(*TINY, "--json")
    assert r.exit_code == 0, r.output
    assert "bench [1/" in r.stderr  # progress goes to stderr, the JSON alone to stdout
    return json.loads(r.stdout)


def test_json_has_the_documented_fields(result):
    assert set(result) == TOP
    assert result["interrupted"] is False and result["pool"] == "used" and result["skipped"] == {}
    model, api, how = result["model"], result["api"], result["run"]
    assert set(model) >= MODEL
    assert model["task"] == "forecast" and model["mode"] == "step"
    assert model["flops_per_step"] > 0 and model["flops_notes"] == []
    assert api["single_stream"] == "Stream.step" and api["streams"] == "Stream pool"
    assert how["streams"] == [1, 4] and how["chunks"] == [1, 3] and how["threads"] == 1
    assert set(result["machine"]) >= {"cpu", "cores", "flags", "python", "numpy", "onnxruntime"}


def test_single_stream_latency_has_its_percentiles(result):
    s = result["single_stream"]
    assert s["steps"] == 200
    assert set(s["edgernn_us"]) == LATENCY and set(s["bare_ort_us"]) == LATENCY
    assert 0 < s["edgernn_us"]["p50"] <= s["edgernn_us"]["p99"] <= s["edgernn_us"]["max"]
    assert s["ratio_p50"] > 0


def test_every_stream_count_and_chunk_is_measured_both_ways(result):
    assert [p["streams"] for p in result["streams"]] == [1, 4]
    for p in result["streams"]:
        assert p["ticks"] >= 3 and p["sgemm_gflops"] > 0
        for name in ("edgernn", "bare_ort"):
            c = p[name]
            assert set(c["tick_us"]) == LATENCY
            assert set(c) >= POINT
            assert c["gflops"] > 0 and c["sgemm_fraction"] > 0
    assert [p["chunk"] for p in result["chunks"]] == [1, 3]
    # T=1 times what a stepper calls
    assert [p["api"] for p in result["chunks"]] == ["Stream.step", "Stream.steps"]
    for p in result["chunks"]:
        for name in ("edgernn", "bare_ort"):
            assert set(p[name]) == {"call_us", "per_step_us", "steps_per_s"}
            assert set(p[name]["call_us"]) == LATENCY


def test_hardware_line_and_startup_are_reported(result):
    hw = result["hardware"]
    assert hw["threads"] == 1 and hw["square"]["gflops"] > 0
    assert set(hw["matched_gflops"]) == {"1", "4"}
    assert {"shapes", "method"} <= set(hw)
    st = result["startup"]
    assert st["runs"] == 1 and 0 < st["first_output_s_min"] <= st["first_output_s"]
    assert st["command"].startswith("python -m edgernn stream MODEL") and st["output"]
    assert st["peak_rss_mb"] is None or st["peak_rss_mb"] > 0


def test_help_documents_every_json_field(result):
    text = CliRunner().invoke(main, ["bench", "--help"]).output
    missing = sorted(k for k in _keys(result) if k not in text)
    assert not missing, f"not in `edgernn bench --help`: {missing}"


def _keys(value, skip=("repeat", "matched_gflops")) -> set[str]:
    """Every key of a JSON value, nested (not the stream counts of matched_gflops, not
    run.repeat's)."""
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    return set(value) | set().union(set(), *(_keys(v) for k, v in value.items() if k not in skip))


def test_tables_on_the_terminal():
    r = run(*TINY, "--no-startup", "--quiet")
    assert r.exit_code == 0, r.output
    tables = ("Single-stream step latency", "bare ORT run()", "Throughput", "hardware line")
    for words in (*tables, "Chunks", "p99 tick", "p99 call", "Stream.steps"):
        assert words in r.stdout
    assert "Start-up" not in r.stdout and r.stderr == ""


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "bench.png"
    r = run(*TINY, "--no-startup", "--quiet", "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_reports_what_was_measured_and_exits_130(monkeypatch, tmp_path):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "chunk_point", interrupt)
    r = run(*TINY, "--json")
    assert r.exit_code == 130, r.output
    out = json.loads(r.stdout)
    assert (
        out["interrupted"] is True
        and len(out["streams"]) == 2
        and out["chunks"] == []
        and out["startup"] is None
    )
    assert "interrupted" in r.stderr
    if benchplot_available():
        r = run(*TINY, "--quiet", "--plot", str(tmp_path / "cut.png"))
        assert r.exit_code == 130 and "(interrupted" in r.stdout
        assert (tmp_path / "cut.png").read_bytes()[:4] == b"\x89PNG"


def test_ctrl_c_in_the_single_stream_phase_keeps_the_steps_timed(monkeypatch):
    real = bench.measure_single

    def cut_short(fns, repeat):  # Ctrl-C after 120 timed edgernn steps (warm-up first)
        edge, calls = fns["edgernn"], [0]

        def step(i):
            calls[0] += 1
            if calls[0] > repeat.warmup + 120:
                raise KeyboardInterrupt
            return edge(i)

        return real({**fns, "edgernn": step}, repeat)

    monkeypatch.setattr(bench, "measure_single", cut_short)
    r = run(*TINY, "--no-startup", "--json", "--quiet")
    assert r.exit_code == 130, r.output
    out = json.loads(r.stdout)
    s = out["single_stream"]
    assert out["interrupted"] is True and s["partial"] is True and 0 < s["steps"] < 200
    assert s["edgernn_us"]["p50"] > 0 and s["ratio_p50"] > 0 and out["streams"] == []


def benchplot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "args,words",
    [
        (("--streams", "1,x"), ("--streams", "1,x")),
        (("--chunks", "0"), ("--chunks",)),
        (("--repeat", "forever"), ("--repeat", "forever")),
        (("--repeat", "3"), ("--repeat",)),
    ],
)
def test_bad_option_values_are_one_line_usage_errors(args, words):
    one_clear_line(run(*args), 2, *words)


def test_plot_into_a_missing_folder_fails_before_measuring(tmp_path):
    pytest.importorskip("matplotlib")
    one_clear_line(run("--plot", str(tmp_path / "nope" / "b.png")), 2, "--plot")


def test_missing_model_is_a_model_error(tmp_path):
    one_clear_line(run(str(tmp_path / "missing.onnx")), 3, "does not exist")


def test_plot_ticks_are_plain_numbers():
    assert doctest.testmod(benchplot).failed == 0
    assert (
        benchplot.plain(20) == "20"
        and benchplot.plain(100.0) == "100"
        and benchplot.plain(2e6) == "2M"
    )


def test_sizes_and_repeat_parse():
    assert measure.parse_sizes("1,16,16,64", "--streams") == (1, 16, 64)
    assert measure.parse_repeat("small") == measure.PRESETS["small"]
    assert measure.parse_repeat("1000").steps == 1000
