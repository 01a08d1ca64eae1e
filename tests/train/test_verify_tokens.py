"""`edgernn verify --checkpoint` beyond forecasters: char LM, text and sensor classifiers, seq2seq.

Tiny random-weight modules exported with the project's exporters and saved with their own
checkpoint writers; the shipped char LM (2x192 LSTM) once, for the real magnitudes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.signature import TASKS  # noqa: E402
from edgernn.train.cells import CELLS  # noqa: E402
from edgernn.train.charlm.export import export_charlm  # noqa: E402
from edgernn.train.charlm.model import CharLM, CharLMConfig  # noqa: E402
from edgernn.train.charlm.train import signature_fields  # noqa: E402
from edgernn.train.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from edgernn.train.classify.ensemble import build_classifier  # noqa: E402
from edgernn.train.classify.export import export_classifier  # noqa: E402
from edgernn.train.classify.model import ClassifierConfig  # noqa: E402
from edgernn.train.export.checks import scaled_error  # noqa: E402
from edgernn.train.export.verify import KIND_CHECK, verify_checkpoint  # noqa: E402
from edgernn.train.registry import TASKS as TRAIN_TASKS  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402
from edgernn.train.seq2seq import train as s2s_module  # noqa: E402
from edgernn.train.seq2seq.export import encoder_path, export_seq2seq  # noqa: E402
from edgernn.train.seq2seq.model import Seq2SeqConfig, Seq2SeqNet  # noqa: E402

KIND_OF_TASK = {
    name: task.kind for name, task in TRAIN_TASKS.items()
}  # the registry's checkpoint kinds

ROOT = Path(__file__).resolve().parents[2]
GRAPH_CONTRACT = {"shapes", "steps == chunk", "chunks 3/7", "batch independence", "reset == fresh"}
PAIRS = ("torch vs onnxruntime", "torch vs reference", "onnxruntime vs reference")
CHARS = tuple(
    ["<unk>", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"]
)  # 16 tokens, id 0 = <unk>


def tok_fields(vocab: tuple[str, ...] = CHARS) -> dict:
    return {"kind": "char", "vocab": list(vocab), "unk": "<unk>"}


# ---- the tiny models, exported and saved as `edgernn train` would ----------------------------
def make_charlm(out: Path, hidden=(16, 8), seed: int = 0) -> tuple[Path, Path]:
    torch.manual_seed(seed)
    net = CharLM(CharLMConfig(vocab_size=len(CHARS), embed=8, hidden=hidden, quiet=True)).eval()
    fields = signature_fields(net, "test", CHARS, {})
    export_charlm(net, fields, out / "model.onnx")
    return out / "model.onnx", save_checkpoint(out / "checkpoint.pt", net, fields, kind="charlm")


def make_classifier(
    out: Path,
    text: bool,
    seed: int = 0,
    arch: str | None = None,
    attention: bool = False,
    max_pool: bool = False,
    members: int = 1,
) -> tuple[Path, Path]:
    torch.manual_seed(seed)
    labels = ["a", "b", "c"]
    if text:
        cfg = ClassifierConfig(
            arch=arch or "gru",
            vocab_size=len(CHARS),
            embed=8,
            hidden=(12, 8),
            n_classes=3,
            attention=attention,
            max_pool=max_pool,
            members=members,
        )
        fields = {"tokenizer": tok_fields()}
    else:
        cfg = ClassifierConfig(
            arch=arch or "lstm",
            n_features=2,
            hidden=(8, 4),
            n_classes=3,
            attention=attention,
            max_pool=max_pool,
            members=members,
        )
        fields = {
            "features": ["temp", "humidity"],
            "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
        }
    fields.update({"labels": labels, "window": 32, "provenance": {}})
    net = build_classifier(cfg).eval()
    export_classifier(net, fields, out / "model.onnx")
    return out / "model.onnx", save_checkpoint(out / "checkpoint.pt", net, fields, kind="classify")


def make_seq2seq(out: Path, seed: int = 0) -> tuple[Path, Path]:
    torch.manual_seed(seed)
    vocab = ("<unk>", "<s>", "</s>", *"0123456789")
    net = Seq2SeqNet(Seq2SeqConfig(vocab_size=len(vocab), embed=8, hidden=16, quiet=True)).eval()
    fields = s2s_module.signature_fields(
        net, vocab, "test", {}, {"max_source_len": 10, "max_target_len": 10}
    )
    export_seq2seq(net, fields, out / "model.onnx")
    return out / "model.onnx", save_checkpoint(out / "checkpoint.pt", net, fields, kind="seq2seq")


def make_music(out: Path, seed: int = 0) -> tuple[Path, Path]:
    from edgernn.train.music.config import MusicConfig
    from edgernn.train.music.export import export_music
    from edgernn.train.music.model import EventLM

    torch.manual_seed(seed)
    vocab = ("<unk>", "<bos>", "60:1", "62:1", "64:0.5", "r:1")
    net = EventLM(MusicConfig(vocab_size=len(vocab), embed=4, hidden=(8, 6), quiet=True)).eval()
    tok = {"kind": "word", "vocab": list(vocab), "unk": "<unk>"}
    fields = {"layers": [8, 6], "window": 16, "tokenizer": tok, "provenance": {}}
    export_music(net, fields, out / "model.onnx")
    return out / "model.onnx", save_checkpoint(out / "checkpoint.pt", net, fields, kind="music")


MAKERS = {  # one per task beyond forecast (tests/train/test_verify.py has the forecasters)
    "charlm": make_charlm,
    "music": make_music,
    "text-classifier": lambda out: make_classifier(out, text=True),
    "sensor-classifier": lambda out: make_classifier(out, text=False),
    "seq2seq": make_seq2seq,
}
# tasks whose `edgernn verify --checkpoint` is tested beside their own models (their checks
# differ: the tagger is a two-input window model whose check is Viterbi paths, not steps)
VERIFIED_ELSEWHERE = {
    "forecast": "tests/train/test_verify.py",
    "tag": "tests/tag/test_tag_cli.py::test_verify_and_inspect",
}
KINDS = {
    "charlm": "charlm",
    "music": "music",
    "text-classifier": "classify",
    "sensor-classifier": "classify",
    "seq2seq": "seq2seq",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """(model.onnx, checkpoint.pt) of each tiny model, exported once for the module."""
    return {name: make(tmp_path_factory.mktemp(name)) for name, make in MAKERS.items()}


def load(path: Path) -> edgernn.Model:
    return edgernn.load(path, provider="cpu")


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(r, code: int, *words: str) -> str:
    assert r.exit_code == code, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in err[0], err[0]
    return err[0]


# ---- every task passes against its own checkpoint ------------------------------------------
def test_every_task_can_be_verified_against_its_checkpoint():
    assert set(KIND_OF_TASK) == set(TASKS), (
        "a new task needs its entry in train.registry and a model here"
    )
    here = {t for t in TASKS if t not in VERIFIED_ELSEWHERE}
    assert set(KINDS) == set(MAKERS) and {KIND_OF_TASK[t] for t in here} == set(KINDS.values())


@pytest.mark.parametrize("name", list(MAKERS))
def test_three_way_parity_passes_for_every_task(models, name):
    model_path, ckpt_path = models[name]
    report = verify_checkpoint(load(model_path), ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]
    names = [c.name for c in report.checks]
    roles = ("encoder: ", "decoder: ") if name == "seq2seq" else ("",)
    for role in roles:
        assert {role + n for n in GRAPH_CONTRACT} <= set(names)
        for batch in (1, 4):
            assert {f"{role}{pair}, batch {batch}" for pair in PAIRS} <= set(names)
    assert "signature matches checkpoint" in names and not any(
        "reference evaluator" in n for n in names
    )
    parity = [c for c in report.checks if any(p in c.name for p in PAIRS)]
    assert len(parity) == 6 * len(roles)
    assert all(c.max_abs_error <= 1e-5 and "50 steps one at a time" in c.detail for c in parity)
    if name != "sensor-classifier":  # token models are fed int64 ids over the whole vocabulary
        assert all("token ids in [0, " in c.detail for c in parity)


@pytest.mark.parametrize("arch", sorted(CELLS))
def test_classifiers_of_every_cell_verify(tmp_path, arch):
    model_path, ckpt_path = make_classifier(tmp_path, text=arch != "lstm", arch=arch)
    report = verify_checkpoint(load(model_path), ckpt_path, contract=False)
    assert report.passed and len(report.checks) == 7, [c for c in report.checks if not c.passed]


# every ClassifierConfig option; a new one is a new architecture: verify it below and add it here
CLASSIFIER_FIELDS = {
    "arch",
    "n_features",
    "vocab_size",
    "embed",
    "hidden",
    "n_classes",
    "dropout",
    "attention",
    "kernel",  # tcn's convolution width: test_tcn_classifiers_verify
    "max_pool",  # test_max_pooling_classifiers_verify
    "members",  # test_ensembles_verify
}


@pytest.mark.parametrize("text", [False, True], ids=["sensor", "text"])
def test_tcn_classifiers_verify(tmp_path, text):
    model_path, ckpt_path = make_classifier(tmp_path, text=text, arch="tcn", attention=True)
    model = load(model_path)
    assert len(model.signature.states) == 2 + 3  # two layers' input history, then the softmax
    report = verify_checkpoint(model, ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]


@pytest.mark.parametrize("text", [False, True], ids=["sensor", "text"])
def test_max_pooling_classifiers_verify(tmp_path, text):
    model_path, ckpt_path = make_classifier(
        tmp_path, text=text, arch="tcn", attention=True, max_pool=True
    )
    model = load(model_path)
    # two layers' input history, the online softmax, then the running maximum (seen, peak)
    assert len(model.signature.states) == 2 + 3 + 2
    report = verify_checkpoint(model, ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]


@pytest.mark.parametrize(
    "text, arch, states",
    [
        (False, "gru", 3 * (2 + 2)),  # per member: two GRU layers, the maximum
        (True, "gru", 3 * (2 + 2)),
        (False, "tcn", 2 + 3 + 2),  # members side by side: two layers, attention, the maximum
    ],
)
def test_ensembles_verify(tmp_path, text, arch, states):
    model_path, ckpt_path = make_classifier(
        tmp_path, text=text, arch=arch, max_pool=True, members=3, attention=arch == "tcn"
    )
    model = load(model_path)
    assert len(model.signature.states) == states
    report = verify_checkpoint(model, ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]


def test_every_classifier_option_is_verified():
    import dataclasses

    fields = {f.name for f in dataclasses.fields(ClassifierConfig)}
    assert fields == CLASSIFIER_FIELDS, (
        f"ClassifierConfig gained/lost {fields ^ CLASSIFIER_FIELDS}: verify it here"
    )


@pytest.mark.parametrize("text", [False, True], ids=["sensor", "text"])
def test_classifiers_with_attention_pooling_verify(tmp_path, text):
    model_path, ckpt_path = make_classifier(tmp_path, text=text, arch="lstm", attention=True)
    model = load(model_path)
    assert (
        len(model.signature.states) == 2 * 2 + 3
    )  # two LSTM layers (h, c), then the online softmax
    report = verify_checkpoint(model, ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]


def test_seq2seq_decoder_starts_from_the_encoders_state(models):
    report = verify_checkpoint(load(models["seq2seq"][0]), models["seq2seq"][1], contract=False)
    decoder = [c for c in report.checks if c.name.startswith("decoder: torch vs")]
    assert decoder and all(
        "from PyTorch's encoder state after 50 random source tokens" in c.detail for c in decoder
    )
    assert "for the encoder and decoder graphs" in report.checks[0].detail


def test_a_loaded_checkpoint_can_be_passed_in_process(models):
    ckpt = load_checkpoint(models["charlm"][1], "charlm")
    report = verify_checkpoint(load(models["charlm"][0]), ckpt, contract=False)
    assert report.passed and report.checkpoint is None


# ---- mismatches ----------------------------------------------------------------------------
def test_other_weights_fail_parity_but_the_graph_agrees_with_itself(models, tmp_path):
    _, other = make_charlm(tmp_path, seed=1)
    report = verify_checkpoint(load(models["charlm"][0]), other, contract=False)
    by_name = {c.name: c for c in report.checks}
    assert by_name["signature matches checkpoint"].passed
    assert (
        not by_name["torch vs onnxruntime, batch 4"].passed
        and by_name["torch vs onnxruntime, batch 4"].max_abs_error > 1e-3
    )
    assert by_name["onnxruntime vs reference, batch 4"].passed


def test_a_char_lm_of_other_sizes_fails_one_signature_check(models, tmp_path):
    _, other = make_charlm(tmp_path, hidden=(8,))
    report = verify_checkpoint(load(models["charlm"][0]), other, contract=False)
    assert [c.name for c in report.checks] == ["signature matches checkpoint"] and not report.passed
    assert "layers (16, 8) vs checkpoint (8,)" in report.checks[0].detail


def test_a_sensor_classifier_checkpoint_does_not_describe_a_text_classifier(models):
    report = verify_checkpoint(
        load(models["text-classifier"][0]), models["sensor-classifier"][1], contract=False
    )
    assert [c.name for c in report.checks] == ["signature matches checkpoint"] and not report.passed
    detail = report.checks[0].detail
    assert (
        "input ('token ids', 16) vs checkpoint ('features', 2)" in detail
        and "arch 'gru' vs checkpoint 'lstm'" in detail
    )


def test_a_checkpoint_of_another_kind_is_one_failing_kind_check(models):
    report = verify_checkpoint(load(models["text-classifier"][0]), models["charlm"][1])
    assert [c.name for c in report.checks] == [KIND_CHECK] and not report.passed
    detail = report.checks[0].detail
    assert "is a charlm checkpoint" in detail and "pass the classify checkpoint" in detail


def test_tokenizers_of_the_same_size_but_other_tokens_differ(models, tmp_path):
    model_path, ckpt_path = models["charlm"]
    ckpt = load_checkpoint(ckpt_path, "charlm")
    net, fields = ckpt.model, ckpt.signature
    fields = {**fields, "tokenizer": tok_fields(tuple(reversed(CHARS)))}
    report = verify_checkpoint(
        load(model_path), Checkpoint(net, fields, kind="charlm"), contract=False
    )
    assert (
        "tokenizer char tokenizer of 16 tokens vs checkpoint char tokenizer of 16 tokens (other "
        "tokens)" in report.checks[0].detail
    )


def test_the_error_is_judged_relative_to_values_above_one():
    want = (np.zeros((1, 2, 3), np.float32), [np.full((1, 1, 4), 30.0, np.float32)])
    got = (want[0] + 5e-6, [want[1][0] + 1.5e-5])  # 8 float32 spacings of a cell state at 30
    assert scaled_error(got, want) == pytest.approx(
        (5e-6, 30.0), rel=1e-3
    )  # the state: 5e-7 relative
    got = (want[0] + 2e-5, want[1])
    assert scaled_error(got, want)[0] == pytest.approx(2e-5, rel=1e-3)  # within [-1, 1]: absolute
    assert scaled_error((want[0][:, :1], want[1]), want)[0] == np.inf


# ---- the command line ----------------------------------------------------------------------
def test_cli_verify_seq2seq_prints_a_table_for_both_graphs(models):
    model_path, ckpt_path = models["seq2seq"]
    r = run("verify", model_path, "--checkpoint", ckpt_path)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert any(
        line.startswith("encoder: torch vs reference, batch 4") and " pass " in line
        for line in lines
    )
    assert any(line.startswith("decoder: onnxruntime vs reference, batch 1") for line in lines)
    assert lines[-1].endswith(f"checks passed against {ckpt_path}")


def test_cli_verify_json_has_every_parity_error(models):
    model_path, ckpt_path = models["text-classifier"]
    r = run("verify", model_path, "--checkpoint", ckpt_path, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["passed"] is True and doc["checkpoint"] == str(ckpt_path)
    parity = [c for c in doc["checks"] if any(p in c["name"] for p in PAIRS)]
    assert len(parity) == 6 and all(
        isinstance(c["max_abs_error"], float) and c["max_abs_error"] <= 1e-5 for c in parity
    )


def test_cli_verify_without_checkpoint_checks_the_encoder_too(models):
    r = run("verify", models["seq2seq"][0], "--json")
    assert r.exit_code == 0, r.output
    names = [c["name"] for c in json.loads(r.stdout)["checks"]]
    assert {f"{role}: {n}" for role in ("encoder", "decoder") for n in GRAPH_CONTRACT} == set(names)


def test_cli_other_weights_exit_7(models, tmp_path):
    _, other = make_classifier(tmp_path, text=False, seed=1)
    r = run("verify", models["sensor-classifier"][0], "--checkpoint", other)
    one_line(r, 7, "verification failed:", "torch vs onnxruntime")
    assert " FAIL " in r.stdout


@pytest.mark.parametrize(
    "model,checkpoint,kinds",
    [
        (
            "text-classifier",
            "charlm",
            (
                "is a charlm checkpoint",
                "'classify' model",
                "pass the classify checkpoint",
                "`edgernn train classify",
            ),
        ),
        (
            "charlm",
            "seq2seq",
            ("is a seq2seq checkpoint", "'generate' model", "pass the charlm checkpoint"),
        ),
        (
            "seq2seq",
            "sensor-classifier",
            ("is a classify checkpoint", "'seq2seq' model", "pass the seq2seq checkpoint"),
        ),
    ],
)
def test_cli_a_checkpoint_of_another_kind_exits_2(models, model, checkpoint, kinds):
    r = run("verify", models[model][0], "--checkpoint", models[checkpoint][1], "--json")
    one_line(r, 2, *kinds)
    doc = json.loads(r.stdout)  # the report is still printed: one failing check
    assert [(c["name"], c["passed"]) for c in doc["checks"]] == [(KIND_CHECK, False)]


def test_cli_forecast_and_token_checkpoints_are_not_interchangeable(models):
    forecaster = ROOT / "exported" / "sensor-forecast.onnx"
    one_line(
        run("verify", forecaster, "--checkpoint", models["charlm"][1]),
        2,
        "is a charlm checkpoint",
        "pass the forecast checkpoint",
    )
    one_line(
        run(
            "verify", models["charlm"][0], "--checkpoint", ROOT / "exported" / "sensor-forecast.pt"
        ),
        2,
        "is a forecast checkpoint",
        "pass the charlm checkpoint",
    )


def test_cli_missing_or_unreadable_checkpoint_exits_5(models, tmp_path):
    one_line(
        run("verify", models["charlm"][0], "--checkpoint", tmp_path / "nope.pt"),
        5,
        "error: checkpoint",
    )
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    one_line(run("verify", models["seq2seq"][0], "--checkpoint", junk), 5, "cannot be read")
    with pytest.raises(DataError):
        verify_checkpoint(load(models["charlm"][0]), junk)


def test_cli_the_encoder_file_is_not_the_model(models):
    r = run("verify", encoder_path(models["seq2seq"][0]), "--checkpoint", models["seq2seq"][1])
    one_line(r, 2, "encoder graph", "pass the decoder model file")
    with pytest.raises(UsageError):
        verify_checkpoint(load(encoder_path(models["seq2seq"][0])), models["seq2seq"][1])


# ---- the shipped char LM -------------------------------------------------------------------
def test_the_shipped_char_lm_verifies_against_its_checkpoint():
    r = run(
        "verify",
        ROOT / "exported" / "char-lm.onnx",
        "--checkpoint",
        ROOT / "exported" / "char-lm.pt",
        "--json",
    )
    assert r.exit_code == 0, r.output
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    for batch in (1, 4):
        assert (
            checks[f"torch vs onnxruntime, batch {batch}"]["max_abs_error"] < 2e-5
        )  # ~8 float32 spacings at |c| ~ 30
        assert checks[f"torch vs reference, batch {batch}"]["max_abs_error"] < 2e-5


# ---- `edgernn export` of every task's checkpoint ------------------------------------------
@pytest.mark.parametrize("name", list(MAKERS))
def test_export_cli_takes_every_tasks_checkpoint(models, tmp_path, name):
    model, ckpt = models[name]
    out = tmp_path / "again.onnx"
    r = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    task = load(model).signature.task
    assert done["ok"] and done["task"] == task and done["parity"]["max_abs_error"] <= 1e-5
    again = load(out)
    assert again.signature.task == task and again.signature.layers == load(model).signature.layers
    if name == "seq2seq":
        assert encoder_path(out).exists()  # the encoder travels next to the decoder step graph
    assert verify_checkpoint(again, ckpt).passed


def test_export_cli_refuses_forecaster_options_for_token_checkpoints(models, tmp_path):
    _, ckpt = models["charlm"]
    for flags, what in (
        (["--quantize", "int8"], "--quantize"),
        (["--tolerance", "1e-4"], "--tolerance"),
    ):
        r = CliRunner().invoke(main, ["export", str(ckpt), "-o", str(tmp_path / "x.onnx"), *flags])
        assert r.exit_code == 2 and what in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.onnx").exists()


def test_a_forecaster_loader_names_the_kind_it_was_given(models):
    from edgernn.train.checkpoint import checkpoint_kind

    _, ckpt = models["charlm"]
    assert checkpoint_kind(ckpt) == "charlm"
    with pytest.raises(DataError, match="is a charlm checkpoint, not a forecaster's"):
        load_checkpoint(ckpt)
