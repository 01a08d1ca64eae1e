"""Character LM: corpus, tiny training, export parity (ORT and reference), checkpoint and the
train CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_checks import one_clear_line

torch = pytest.importorskip("torch")

from pydoc_data.topics import topics  # noqa: E402

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.tasks.generate import Generator  # noqa: E402
from edgernn.train.charlm.corpus import Corpus  # noqa: E402
from edgernn.train.charlm.export import export_charlm  # noqa: E402
from edgernn.train.charlm.model import CharLM, CharLMConfig  # noqa: E402
from edgernn.train.charlm.train import signature_fields, train_charlm  # noqa: E402
from edgernn.train.checkpoint import save_checkpoint  # noqa: E402
from edgernn.train.export.config import ExportConfig  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402

TINY = dict(hidden=(16, 8), embed=8, window=16, batch_size=4, steps=5, max_vocab=40, quiet=True)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "pydoc.txt"
    path.write_text(
        topics["assert"] + topics["for"] + topics["if"], encoding="utf-8"
    )  # a few KB of real text
    return path


@pytest.fixture(scope="module")
def trained(corpus_file):
    return train_charlm(CharLMConfig(corpus=str(corpus_file), **TINY))


def test_corpus_vocab_is_the_most_frequent_training_characters_plus_unk():
    c = Corpus.from_text("aaab" * 20 + "zzzz", vocab_size=1, val_frac=0.05)
    assert c.vocab == ("<unk>", "a")
    assert c.unknown == {
        "train": 19,
        "val": 5,
    }  # cut at 79: "aaab" * 19 + "aaa" | "b" + "zzzz" and len(c.train) + len(c.val) == 84


def test_tiny_training_reports_finite_losses(trained):
    m = trained.metrics
    assert m["steps"] == 5 and math.isfinite(m["val_loss"])
    assert m["val_bits_per_char"] == pytest.approx(m["val_loss"] / math.log(2))
    assert trained.model.config.vocab_size == len(trained.data.vocab) <= 41


def test_export_parity_on_ort_and_the_reference_evaluator_and_the_runtime_generates(
    trained, tmp_path
):
    r = trained
    fields = signature_fields(r.model, r.data.source, r.data.vocab, r.metrics)
    sig = export_charlm(r.model, fields, tmp_path / "m.onnx")
    assert sig.parity["max_abs_error"] <= 1e-5 and sig.parity["shapes"] == [[1, 1], [1, 50], [4, 7]]
    assert (
        sig.parity["reference_max_abs_error"] is not None
        and sig.parity["reference_max_abs_error"] <= 1e-5
    )
    model = edgernn.load(tmp_path / "m.onnx", provider="cpu")
    assert model.signature == sig and sig.inputs[0].dtype == "int64" and len(sig.states) == 4
    ids = np.array([r.data.tokenizer.encode("for x in y")], dtype=np.int64)  # (1, T)
    with torch.no_grad():
        want = r.model(torch.from_numpy(ids))[0].numpy()
    got, _ = model.run(ids, model.initial_state(1))
    assert np.max(np.abs(got - want)) <= 1e-5
    assert (
        len("".join(Generator(model).generate("for ", 12, temperature=0.7, top_k=5, seed=3))) == 12
    )


def test_reduced_exports_are_refused_for_now(trained, tmp_path):
    fields = signature_fields(trained.model, "x", trained.data.vocab, {})
    with pytest.raises(UsageError, match="not supported for char LMs"):
        export_charlm(trained.model, fields, tmp_path / "m.onnx", ExportConfig(quantize="int8"))


def test_checkpoint_round_trip_and_refusal(trained, tmp_path):
    fields = signature_fields(trained.model, "x", trained.data.vocab, {})
    path = save_checkpoint(tmp_path / "c.pt", trained.model, fields, kind="charlm")
    ckpt = load_checkpoint(path, "charlm")
    model, loaded = ckpt.model, ckpt.signature
    assert loaded == fields
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(model(x)[0], trained.model(x)[0])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="charlm checkpoint"):
        load_checkpoint(tmp_path / "bad.pt", "charlm")


def test_forward_shapes():
    net = CharLM(CharLMConfig(vocab_size=10, hidden=(6, 4), embed=3))
    logits, *states = net(torch.zeros(2, 5, dtype=torch.int64))
    assert (
        logits.shape == (2, 5, 10)
        and [tuple(s.shape) for s in states] == [(1, 2, 6)] * 2 + [(1, 2, 4)] * 2
    )


ARGS = [
    "--hidden",
    "16,8",
    "--embed",
    "8",
    "--window",
    "16",
    "--batch-size",
    "4",
    "--steps",
    "3",
    "--vocab-size",
    "40",
    "--quiet",
]


def test_train_cli_without_export(corpus_file, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "charlm",
            "--corpus",
            str(corpus_file),
            *ARGS,
            "--out",
            str(tmp_path),
            "--no-export",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "checkpoint.pt").is_file() and not (tmp_path / "model.onnx").exists()
    assert "bits/char) on 64 random windows" in r.stdout
    assert "held-out text not scored (--no-export)" in r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metrics"]["steps"] == 3 and report["heldout"] is None


def test_train_cli_with_export_then_generate(corpus_file, tmp_path):
    r = CliRunner().invoke(
        main,
        ["train", "charlm", "--corpus", str(corpus_file), *ARGS, "--out", str(tmp_path), "--json"],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["export"]["parity"]["max_abs_error"] <= 1e-5
    g = CliRunner().invoke(
        main, ["generate", str(tmp_path / "model.onnx"), "--prompt", "if ", "-n", "8", "--json"]
    )
    assert g.exit_code == 0 and len(json.loads(g.stdout)["text"]) == 8


def test_train_cli_bad_corpus_is_one_line(tmp_path):
    r = CliRunner().invoke(
        main,
        ["train", "charlm", "--corpus", str(tmp_path / "nope.txt"), *ARGS, "--out", str(tmp_path)],
    )
    assert (
        r.exit_code == 5
        and r.stderr.strip().startswith("error: --corpus")
        and "Traceback" not in r.output
    )


# ---- --val and the held-out figure -----------------------------------------------------------
@pytest.fixture(scope="module")
def exported_run(corpus_file, tmp_path_factory) -> tuple[Path, dict, str]:
    """`edgernn train charlm` with export, as a user runs it: (OUT, report.json, stdout)."""
    out = tmp_path_factory.mktemp("charlm-run")
    r = CliRunner().invoke(
        main, ["train", "charlm", "--corpus", str(corpus_file), *ARGS, "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    return out, json.loads((out / "report.json").read_text()), r.stdout


def test_heldout_figure_is_what_edgernn_score_gives_on_the_heldout_tail(
    exported_run, corpus_file, tmp_path
):
    out, report, stdout = exported_run
    held = report["heldout"]
    text = corpus_file.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)  # --val 0.1 by default: the last tenth
    assert held["from_char"] == cut and held["chars"] == len(text) - cut == report["chars"]["val"]
    assert held["scored"] == held["chars"] - 1 and math.isfinite(held["bits_per_char"])
    tail = tmp_path / "tail.txt"
    tail.write_text(text[cut:], encoding="utf-8")
    assert (out / "heldout.txt").read_text(encoding="utf-8") == text[cut:]
    for path in (tail, out / "heldout.txt"):
        r = CliRunner().invoke(main, ["score", str(out / "model.onnx"), str(path), "--json"])
        assert r.exit_code == 0, r.output
        scored = json.loads(r.stdout)
        assert scored["bits_per_char"] == held["bits_per_char"]
        assert (scored["bits"], scored["unknown_chars"]) == (held["bits"], held["unknown_chars"])
    assert f"held-out {held['bits_per_char']:.3f} bits/char over {held['scored']:,}" in stdout
    assert report["files"]["heldout"] == str(out / "heldout.txt")


def test_val_holds_the_tail_out_of_training(tmp_path):
    head = (topics["if"] + topics["for"])[:900]
    tail = "αβγδε ζηθικ\n" * 8 + "λμνξ"  # letters the head never uses: 100 characters
    assert len(tail) == 100 and not (set(tail) - {" ", "\n"}) & set(head)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(head + tail, encoding="utf-8")
    args = [*ARGS[:-3], "--vocab-size", "200", "--val", "0.1", "--out", str(tmp_path / "out")]
    r = CliRunner().invoke(main, ["train", "charlm", "--corpus", str(corpus), *args, "--quiet"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["chars"] == {"train": 900, "val": 100}
    vocab = edgernn.load(tmp_path / "out" / "model.onnx", provider="cpu").signature.tokenizer.vocab
    assert set(vocab) == set(head) | {"<unk>"}  # built from the training text alone
    held = report["heldout"]
    assert held["unknown_chars"] == 100 - tail.count(" ") - tail.count("\n")  # only unseen ones
    assert (tmp_path / "out" / "heldout.txt").read_text(encoding="utf-8") == tail


@pytest.mark.parametrize(
    "val,code,words",
    [
        ("0", 2, ["--val must be in (0, 1), got 0.0", "--val 0.1"]),
        ("1", 2, ["--val must be in (0, 1), got 1.0"]),
        ("0.001", 5, ["held-out tail (--val 0.001) has 4 characters", "raise --val"]),
    ],
)
def test_bad_val_is_one_clear_line(corpus_file, tmp_path, val, code, words):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "charlm",
            "--corpus",
            str(corpus_file),
            *ARGS,
            "--val",
            val,
            "--out",
            str(tmp_path),
        ],
    )
    one_clear_line(r, code, *words)
