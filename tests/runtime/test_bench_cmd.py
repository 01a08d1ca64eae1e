"""`edgernn bench`: runs quickly with tiny settings on every kind of model, documents its
JSON, exits 130 after Ctrl-C with what it measured, fails in one line.

No timing is asserted here: timings belong in benchmarks/.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

from edgernn.bench import cost as bench_cost
from edgernn.bench import measure
from edgernn.bench import plot as benchplot
from edgernn.bench import run as bench
from edgernn.cli import main
from edgernn.signature import Reduction, Scaler, Signature, Tokenizer

TINY = ("--streams", "1,4", "--chunks", "1,3", "--repeat", "small")
LATENCY = {"p50", "p90", "p99", "max", "mean"}
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TOP = {"edgernn", "date", "model", "run", "machine", "pool", "api", "single_stream", "hardware", "streams", "chunks",
       "startup", "skipped", "interrupted"}


def run(*args: str):
    return CliRunner().invoke(main, ["bench", *args])


@pytest.fixture(scope="module")
def result() -> dict:
    r = run(*TINY, "--json")
    assert r.exit_code == 0, r.output
    assert "bench [1/" in r.stderr  # progress goes to stderr, the JSON alone to stdout
    return json.loads(r.stdout)


def test_json_has_the_documented_fields(result):
    assert set(result) == TOP
    assert result["interrupted"] is False and result["pool"] == "used" and result["skipped"] == {}
    assert set(result["model"]) >= {"path", "id", "task", "mode", "input", "outputs", "arch", "layers", "features",
                                    "targets", "flops_per_step", "flops_nominal", "flops_notes"}
    assert result["model"]["task"] == "forecast" and result["model"]["mode"] == "step"
    assert result["model"]["flops_per_step"] > 0 and result["model"]["flops_notes"] == []
    assert result["api"]["single_stream"] == "Stream.step" and result["api"]["streams"] == "Stream pool"
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
    assert [p["api"] for p in result["chunks"]] == ["Stream.step", "Stream.steps"]  # T=1 times what a stepper calls
    for p in result["chunks"]:
        for name in ("edgernn", "bare_ort"):
            assert set(p[name]) == {"call_us", "per_step_us", "steps_per_s"} and set(p[name]["call_us"]) == LATENCY


def test_hardware_line_and_startup_are_reported(result):
    hw = result["hardware"]
    assert hw["threads"] == 1 and hw["square"]["gflops"] > 0 and set(hw["matched_gflops"]) == {"1", "4"}
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
    """Every key of a JSON value, nested (not the stream counts of matched_gflops, not run.repeat's)."""
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    return set(value) | set().union(set(), *(_keys(v) for k, v in value.items() if k not in skip))


def test_tables_on_the_terminal():
    r = run(*TINY, "--no-startup", "--quiet")
    assert r.exit_code == 0, r.output
    for words in ("Single-stream step latency", "bare ORT run()", "Throughput", "hardware line", "Chunks",
                  "p99 tick", "p99 call", "Stream.steps"):
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
    assert out["interrupted"] is True and len(out["streams"]) == 2 and out["chunks"] == [] and out["startup"] is None
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


def sig_of(**kw) -> Signature:
    base = {"task": "forecast", "arch": "lstm", "layers": (16, 8), "features": ("a", "b"), "targets": ("t",),
            "states": ()}
    sig = {**base, **kw}
    return Signature(**sig, input_scaler=Scaler.identity(len(sig["features"])),
                     target_scaler=Scaler.identity(len(sig["targets"])))


def test_flops_count_the_matrix_products():
    sig = sig_of(arch="lstm", layers=(64, 64), features=("a", "b"), targets=("t",))
    assert bench_cost.flops_per_step(sig) == 2 * 4 * 64 * (2 + 64) + 2 * 4 * 64 * (64 + 64) + 2 * 64 * 1
    gru = sig_of(arch="gru", layers=(32,), features=("a",), targets=("t", "u"))
    assert bench_cost.flops_per_step(gru) == 2 * 3 * 32 * 33 + 2 * 32 * 2


def test_flops_of_text_models_use_the_embedding_and_the_vocabulary_or_say_what_they_leave_out():
    vocab = Tokenizer("char", tuple("abcdefghij"))
    lm = sig_of(task="generate", features=(), targets=(), tokenizer=vocab, embed=6)
    cost = bench_cost.step_cost(lm)
    assert cost["flops"] == 2 * 4 * 16 * (6 + 16) + 2 * 4 * 8 * (16 + 8) + 2 * 8 * 10 and cost["notes"] == []
    clf = sig_of(task="classify", arch="gru", layers=(8,), features=(), targets=(), labels=("x", "y", "z"), tokenizer=vocab)
    cost = bench_cost.step_cost(clf)
    assert cost["flops"] == 2 * 3 * 8 * (0 + 8) + 2 * 8 * 3 and "input projection" in cost["notes"][0]


def test_flops_of_window_attention_and_int8_models():
    bi = sig_of(causal=False, window=12)  # both directions over 12 steps; layer 1 reads 2 x 16; the head reads 2 x 8, once
    assert bench_cost.flops_per_step(bi) == 12 * 2 * (2 * 4 * 16 * (2 + 16) + 2 * 4 * 8 * (32 + 8)) + 2 * 16 * 1
    attn = sig_of(attention=True)  # score layer 8x8 + 8; the head reads [h, context]
    cost = bench_cost.step_cost(attn)
    assert cost["flops"] == 2 * 4 * 16 * (2 + 16) + 2 * 4 * 8 * (16 + 8) + (2 * 8 * 8 + 2 * 8) + 2 * 16 * 1
    assert "attention" in cost["notes"][0]
    int8 = bench_cost.step_cost(sig_of(reduction=Reduction("int8-dynamic", "cpu", 0.02)))
    assert int8["nominal"] is True and "nominal" in int8["notes"][-1]
    assert bench_cost.step_cost(sig_of())["nominal"] is False


def test_plot_ticks_are_plain_numbers():
    assert doctest.testmod(benchplot).failed == 0
    assert benchplot.plain(20) == "20" and benchplot.plain(100.0) == "100" and benchplot.plain(2e6) == "2M"


# ---- every kind of model -------------------------------------------------------------------------
KINDS = {  # name: (task, mode, the one-step API timed, chunk APIs at T=1 and 3 or None, start-up command or None)
    "tiny-lstm": ("forecast", "step", "Stream.step", ("Stream.step", "Stream.steps"), "edgernn stream"),
    "char-lm": ("generate", "step", "Generator.step", ("Generator.step", "Model.run"), "edgernn generate"),
    "classifier": ("classify", "step", "ClassifierStream.step", ("ClassifierStream.step", "Model.run"), "edgernn classify"),
    "bilstm": ("forecast", "window of 12", "WindowStream.step", None, None),
    "seq2seq": ("seq2seq", "step", "StepBuffers.run", ("StepBuffers.run", "Model.run"), "edgernn generate"),
}
PATHS = {"tiny-lstm": DATA / "tiny-lstm.onnx", "char-lm": ROOT / "exported" / "char-lm.onnx",
         "classifier": DATA / "tiny-classifier.onnx", "bilstm": DATA / "tiny-bilstm.onnx"}


@pytest.fixture(scope="module")
def seq2seq_model(tmp_path_factory) -> Path:
    """A tiny random-weight seq2seq export (decoder model.onnx + model.encoder.onnx); needs torch."""
    torch = pytest.importorskip("torch", exc_type=ImportError)  # also when blocked (the torch-free run)
    from edgernn.train import seq2seq as s2s

    out = tmp_path_factory.mktemp("seq2seq") / "model.onnx"
    torch.manual_seed(0)
    vocab = ("<unk>", "<s>", "</s>", *"0123456789")
    net = s2s.Seq2SeqNet(s2s.Seq2SeqConfig(vocab_size=len(vocab), embed=8, hidden=16, quiet=True)).eval()
    s2s.export_seq2seq(net, s2s.signature_fields(net, vocab, "test", {}, {"max_source_len": 8}), out)
    return out


@pytest.fixture(scope="module")
def benched(request) -> dict:
    """name -> the --json result of `edgernn bench` on that model (measured once, on first use)."""
    return {}


def bench_json(name: str, benched: dict, request) -> dict:
    if name not in benched:
        path = request.getfixturevalue("seq2seq_model") if name == "seq2seq" else PATHS[name]
        r = run(str(path), *TINY, "--json", "--quiet")
        assert r.exit_code == 0, r.output
        benched[name] = json.loads(r.stdout)
    return benched[name]


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_of_model_is_benched_with_its_own_api(name, benched, request):
    task, mode, api, _, _ = KINDS[name]
    out = bench_json(name, benched, request)
    assert set(out) == TOP and out["interrupted"] is False
    m = out["model"]
    assert (m["task"], m["mode"]) == (task, mode) and m["flops_per_step"] > 0 and isinstance(m["flops_notes"], list)
    assert out["api"]["single_stream"].startswith(api) and out["api"]["bare_ort"] and out["api"]["streams"]
    assert out["pool"] == ("used" if (task, mode) == ("forecast", "step") else "not available")
    s = out["single_stream"]
    assert s["steps"] == 200 and set(s["edgernn_us"]) == LATENCY == set(s["bare_ort_us"])
    assert 0 < s["edgernn_us"]["p50"] <= s["edgernn_us"]["p99"] <= s["edgernn_us"]["max"] and s["ratio_p50"] > 0
    assert [p["streams"] for p in out["streams"]] == [1, 4]
    for p in out["streams"]:
        for side in ("edgernn", "bare_ort"):
            assert set(p[side]["tick_us"]) == LATENCY and p[side]["per_stream_step_us"] > 0 and p[side]["gflops"] > 0


@pytest.mark.parametrize("name", list(KINDS))
def test_chunks_and_startup_run_where_they_apply_and_say_why_not(name, benched, request):
    _, _, _, chunk_apis, command = KINDS[name]
    out = bench_json(name, benched, request)
    if chunk_apis is None:
        assert out["chunks"] == [] and out["api"]["chunks"] is None and "window" in out["skipped"]["chunks"]
    else:
        assert [(p["chunk"], p["api"].split(" (")[0]) for p in out["chunks"]] == list(zip((1, 3), chunk_apis))
        assert all(p[side]["per_step_us"] > 0 and set(p[side]["call_us"]) == LATENCY
                   for p in out["chunks"] for side in ("edgernn", "bare_ort"))
    if command is None:
        assert out["startup"] is None and out["skipped"]["startup"]
    else:
        st = out["startup"]
        assert "error" not in st, st
        assert st["command"].startswith(f"python -m {command} MODEL") and 0 < st["first_output_s_min"] <= st["first_output_s"]


def test_generate_startup_waits_for_the_first_generated_character(benched, request):
    st = bench_json("char-lm", benched, request)["startup"]
    assert "--prompt 'The '" in st["command"] and "generated character" in st["output"]


def test_text_model_flops_use_the_signature(benched, request):
    m = bench_json("char-lm", benched, request)["model"]  # 2x192 LSTM over a 64-wide embedding, 97-token head
    assert m["flops_per_step"] == 2 * 4 * 192 * (64 + 192) + 2 * 4 * 192 * (192 + 192) + 2 * 192 * 97
    assert bench_json("classifier", benched, request)["model"]["flops_notes"]  # embedding width unknown: said so


@pytest.mark.parametrize("name,words", [
    ("bilstm", ("WindowStream.step", "one window of every stream", "Chunks: skipped", "Start-up: skipped")),
    ("classifier", ("ClassifierStream.step", "no pool for this task", "Model.run", "Start-up: `edgernn classify")),
])
def test_tables_for_other_kinds(name, words, tmp_path):
    args = [str(PATHS[name]), *TINY, "--quiet"]
    if benchplot_available():
        args += ["--plot", str(tmp_path / "b.png")]
    r = run(*args)
    assert r.exit_code == 0, r.output
    for w in words:
        assert w in r.stdout


def test_sizes_and_repeat_parse():
    assert measure.parse_sizes("1,16,16,64", "--streams") == (1, 16, 64)
    assert measure.parse_repeat("small") == measure.PRESETS["small"]
    assert measure.parse_repeat("1000").steps == 1000
