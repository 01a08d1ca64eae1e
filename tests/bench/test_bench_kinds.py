"""`edgernn bench` on every kind of model: each is timed through its own API, and chunks and
start-up run where they apply (and say why where they do not)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from bench_fields import LATENCY, TINY, TOP, run

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def benchplot_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


# name: (task, mode, the one-step API timed, chunk APIs at T=1 and 3 or None, start-up command or
# None)
KINDS = {
    "tiny-lstm": (
        "forecast",
        "step",
        "Stream.step",
        ("Stream.step", "Stream.steps"),
        "edgernn stream",
    ),
    "char-lm": (
        "generate",
        "step",
        "Generator.step",
        ("Generator.step", "Model.run"),
        "edgernn generate",
    ),
    "classifier": (
        "classify",
        "step",
        "ClassifierStream.step",
        ("ClassifierStream.step", "Model.run"),
        "edgernn classify",
    ),
    "bilstm": ("forecast", "window of 12", "WindowStream.step", None, None),
    "seq2seq": (
        "seq2seq",
        "step",
        "StepBuffers.run",
        ("StepBuffers.run", "Model.run"),
        "edgernn generate",
    ),
    "music-bach": (
        "music",
        "step",
        "MusicGenerator.step",
        ("MusicGenerator.step", "Model.run"),
        "edgernn generate",
    ),
}
PATHS = {
    "tiny-lstm": DATA / "tiny-lstm.onnx",
    "char-lm": ROOT / "exported" / "char-lm.onnx",
    "classifier": DATA / "tiny-classifier.onnx",
    "bilstm": DATA / "tiny-bilstm.onnx",
    "music-bach": ROOT / "exported" / "music-bach.onnx",
}


@pytest.fixture(scope="module")
def seq2seq_model(tmp_path_factory) -> Path:
    """A tiny random-weight seq2seq export (decoder model.onnx + model.encoder.onnx); needs
    torch."""
    # also when blocked (the torch-free run)
    torch = pytest.importorskip("torch", exc_type=ImportError)
    from edgernn.train.seq2seq.export import export_seq2seq
    from edgernn.train.seq2seq.model import Seq2SeqConfig, Seq2SeqNet
    from edgernn.train.seq2seq.train import signature_fields

    out = tmp_path_factory.mktemp("seq2seq") / "model.onnx"
    torch.manual_seed(0)
    vocab = ("<unk>", "<s>", "</s>", *"0123456789")
    net = Seq2SeqNet(Seq2SeqConfig(vocab_size=len(vocab), embed=8, hidden=16, quiet=True)).eval()
    export_seq2seq(net, signature_fields(net, vocab, "test", {}, {"max_source_len": 8}), out)
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
    assert (
        (m["task"], m["mode"]) == (task, mode)
        and m["flops_per_step"] > 0
        and isinstance(m["flops_notes"], list)
    )
    assert (
        out["api"]["single_stream"].startswith(api)
        and out["api"]["bare_ort"]
        and out["api"]["streams"]
    )
    assert out["pool"] == ("used" if (task, mode) == ("forecast", "step") else "not available")
    s = out["single_stream"]
    assert s["steps"] == 200 and set(s["edgernn_us"]) == LATENCY == set(s["bare_ort_us"])
    assert (
        0 < s["edgernn_us"]["p50"] <= s["edgernn_us"]["p99"] <= s["edgernn_us"]["max"]
        and s["ratio_p50"] > 0
    )
    assert [p["streams"] for p in out["streams"]] == [1, 4]
    for p in out["streams"]:
        for side in ("edgernn", "bare_ort"):
            assert (
                set(p[side]["tick_us"]) == LATENCY
                and p[side]["per_stream_step_us"] > 0
                and p[side]["gflops"] > 0
            )


@pytest.mark.parametrize("name", list(KINDS))
def test_chunks_and_startup_run_where_they_apply_and_say_why_not(name, benched, request):
    _, _, _, chunk_apis, command = KINDS[name]
    out = bench_json(name, benched, request)
    if chunk_apis is None:
        assert (
            out["chunks"] == []
            and out["api"]["chunks"] is None
            and "window" in out["skipped"]["chunks"]
        )
    else:
        assert [(p["chunk"], p["api"].split(" (")[0]) for p in out["chunks"]] == list(
            zip((1, 3), chunk_apis)
        )
        assert all(
            p[side]["per_step_us"] > 0 and set(p[side]["call_us"]) == LATENCY
            for p in out["chunks"]
            for side in ("edgernn", "bare_ort")
        )
    if command is None:
        assert out["startup"] is None and out["skipped"]["startup"]
    else:
        st = out["startup"]
        assert "error" not in st, st
        assert (
            st["command"].startswith(f"python -m {command} MODEL")
            and 0 < st["first_output_s_min"] <= st["first_output_s"]
        )


def test_generate_startup_waits_for_the_first_generated_character(benched, request):
    st = bench_json("char-lm", benched, request)["startup"]
    assert "--prompt 'The '" in st["command"] and "generated character" in st["output"]


def test_text_model_flops_use_the_signature(benched, request):
    # 2x192 LSTM over a 64-wide embedding, 97-token head
    m = bench_json("char-lm", benched, request)["model"]
    assert (
        m["flops_per_step"] == 2 * 4 * 192 * (64 + 192) + 2 * 4 * 192 * (192 + 192) + 2 * 192 * 97
    )
    # embedding width unknown: said so
    assert bench_json("classifier", benched, request)["model"]["flops_notes"]


@pytest.mark.parametrize(
    "name,words",
    [
        (
            "bilstm",
            (
                "WindowStream.step",
                "one window of every stream",
                "Chunks: skipped",
                "Start-up: skipped",
            ),
        ),
        (
            "classifier",
            (
                "ClassifierStream.step",
                "no pool for this task",
                "Model.run",
                "Start-up: `edgernn classify",
            ),
        ),
    ],
)
def test_tables_for_other_kinds(name, words, tmp_path):
    args = [str(PATHS[name]), *TINY, "--quiet"]
    if benchplot_available():
        args += ["--plot", str(tmp_path / "b.png")]
    r = run(*args)
    assert r.exit_code == 0, r.output
    for w in words:
        assert w in r.stdout
