"""Sequence classification: data, tokenizers, padding, training, export parity, the train and
classify CLIs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError  # noqa: E402
from edgernn.tasks.classify import ClassifierStream  # noqa: E402
from edgernn.train.classify.batches import last_logits, pad_batch  # noqa: E402
from edgernn.train.classify.data import (  # noqa: E402
    build_tokenizer,
    docstrings,
    encode_texts,
    load_dataset,
    split_indices,
)
from edgernn.train.classify.model import Classifier, ClassifierConfig  # noqa: E402
from edgernn.train.classify.train import run_classify  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402

TEXTS = [
    ("the cat sat on the mat", "animal"),
    ("a dog ran in the park", "animal"),
    ("my cat likes fish", "animal"),
    ("the dog barks at night", "animal"),
    ("stocks fell on monday", "money"),
    ("the bank raised rates", "money"),
    ("bonds and stocks rallied", "money"),
    ("the market closed higher", "money"),
] * 6


@pytest.fixture(scope="module")
def text_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "texts.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["body", "topic"])
        w.writerows(TEXTS)
    return path


@pytest.fixture(scope="module")
def sensor_run(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("sensor")
    report = run_classify(
        data="synth:sensor-classes?n=450&length=40",
        arch="lstm",
        hidden=(32,),
        epochs=15,
        lr=5e-3,
        patience=0,
        attention=False,
        refit=False,
        out=out,
        quiet=True,
    )
    return report, out


def test_sensor_classifier_learns_the_synthetic_classes_and_exports_with_parity(sensor_run):
    report, out = sensor_run
    test = report["metrics"]["test"]
    assert report["labels"] == ["normal", "spike", "drift"] and test["n"] == 66
    assert (
        test["accuracy"] >= 0.6 > report["baseline"]["majority"]["test_accuracy"] + 0.2
    )  # chance is 1/3
    assert np.array(test["confusion"]).sum() == 66 and set(test["per_class"]) == {
        "normal",
        "spike",
        "drift",
    }
    parity = report["export"]["parity"]
    assert parity["max_abs_error"] <= 1e-5 and parity["reference_max_abs_error"] <= 2e-5
    sig = edgernn.load(out / "model.onnx", provider="cpu").signature
    assert (
        sig.task == "classify"
        and sig.features == ("temp", "humidity")
        and sig.input_scaler.kind == "standard"
    )
    assert sig.inputs[0].shape == ("batch", "time", 2) and sig.outputs[0].shape == (
        "batch",
        "time",
        3,
    )


def test_runtime_stream_matches_pytorch_in_user_units(sensor_run):
    _, out = sensor_run
    model = load_checkpoint(out / "checkpoint.pt", "classify").model
    data = load_dataset("synth:sensor-classes?n=6&length=30&seed=9")
    stream = ClassifierStream(edgernn.load(out / "model.onnx", provider="cpu"))
    scaler = stream.model.signature.input_scaler
    for seq in data.sequences:
        running, _ = stream.classify_sequence(seq)
        with torch.no_grad():
            want = torch.softmax(
                model(torch.from_numpy(scaler.transform(seq))[None])[0][0], -1
            ).numpy()
        got = np.array([[p[k] for k in stream.labels] for p in running])
        assert np.max(np.abs(got - want)) <= 1e-5


def test_padding_does_not_change_a_sequences_prediction():
    torch.manual_seed(0)
    for cfg in (
        ClassifierConfig(arch="lstm", n_features=2, hidden=(6, 5), n_classes=3),
        ClassifierConfig(arch="gru", vocab_size=11, embed=3, hidden=(4,), n_classes=2),
    ):
        net = Classifier(cfg).eval()
        token = bool(cfg.vocab_size)
        rng = np.random.default_rng(0)
        seqs = [
            rng.integers(1, 11, size=n) if token else rng.standard_normal((n, 2)).astype(np.float32)
            for n in (3, 9, 1)
        ]
        x, lengths = pad_batch(seqs, token)
        assert tuple(x.shape[:2]) == (3, 9) and lengths.tolist() == [3, 9, 1]
        with torch.no_grad():
            batched = last_logits(net(x)[0], lengths)
            for i, s in enumerate(seqs):
                alone = net(torch.from_numpy(np.asarray(s))[None])[0][0, -1]
                assert torch.allclose(batched[i], alone, atol=1e-6)


def test_split_is_stratified_seeded_and_disjoint():
    y = np.array([0] * 40 + [1] * 20)
    a = split_indices(y, 0.25, 0.25, seed=3)
    assert a == split_indices(y, 0.25, 0.25, seed=3) and a != split_indices(y, 0.25, 0.25, seed=4)
    train, val, test = a
    assert sorted(train + val + test) == list(range(60))
    assert (y[test] == 0).sum() == 10 and (y[test] == 1).sum() == 5


def test_word_and_char_tokenizers_limit_the_vocabulary_and_count_unknowns():
    word = build_tokenizer(["the cat the dog", "the cat"], "word", vocab_size=2)
    assert word.vocab == ("<unk>", "the", "cat")
    ids, unknown = encode_texts(word, ["the bird sang", "cat"], max_len=2)
    assert [a.tolist() for a in ids] == [[1, 0], [2]] and unknown == 1
    char = build_tokenizer(["aab"], "char", vocab_size=5)
    assert char.vocab == ("<unk>", "a", "b")
    ids, unknown = encode_texts(char, ["abcé"], max_len=10)
    assert ids[0].tolist() == [1, 2, 0, 0] and unknown == 2


@pytest.mark.parametrize("tokenizer", ["char", "word"])
def test_text_classifier_trains_exports_and_classifies(text_csv, tmp_path, tokenizer):
    report = run_classify(
        data=str(text_csv),
        text="body",
        label="topic",
        tokenizer=tokenizer,
        vocab_size=12,
        hidden=(16,),
        embed=8,
        epochs=12,
        batch_size=8,
        lr=1e-2,
        out=tmp_path,
        quiet=True,
    )
    assert report["labels"] == ["animal", "money"] and report["data"]["vocab_size"] == 13
    assert (
        report["metrics"]["test"]["accuracy"] >= 0.75
    )  # the training texts repeat: it must fit them
    assert report["export"]["parity"]["max_abs_error"] <= 1e-5
    stream = ClassifierStream(edgernn.load(tmp_path / "model.onnx", provider="cpu"))
    assert stream.tokenizer.kind == tokenizer and len(stream.tokenizer.vocab) == 13
    running, label = stream.classify_text("the zebra ate my stocks ü")
    assert label in ("animal", "money") and stream.unknown >= 1
    n_tokens = 25 if tokenizer == "char" else 6
    assert len(running) == n_tokens


def test_docstrings_is_real_offline_text_with_several_classes():
    data = docstrings(min_chars=40)
    counts = np.bincount(data.y)
    assert (
        data.kind == "text"
        and len(data.labels) == 6
        and counts.min() >= 50
        and len(data.sequences) > 1000
    )
    assert all(isinstance(t, str) and len(t) >= 40 for t in data.sequences[:50])


def test_sensor_csv_groups_rows_by_sequence_id(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("sid,a,b,cls\n1,0,1,x\n1,1,2,x\n2,5,5,y\n1,2,3,x\n3,0,0,x\n")
    data = load_dataset(str(path), label="cls", seq_id="sid")
    assert (
        data.features == ("a", "b") and data.labels == ("x", "y") and data.y.tolist() == [0, 1, 0]
    )
    assert [len(s) for s in data.sequences] == [3, 1, 1] and data.sequences[0][:, 0].tolist() == [
        0,
        1,
        2,
    ]
    path.write_text("sid,a,cls\n1,0,x\n1,1,y\n")
    with pytest.raises(DataError, match="more than one label"):
        load_dataset(str(path), label="cls", seq_id="sid")


def test_cli_train_then_classify_sensor_records(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main,
        [
            "train",
            "classify",
            "--data",
            "synth:sensor-classes?n=60&length=20",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.stdout and "majority class" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert (
        report["export"]["parity"]["max_abs_error"] <= 1e-5
        and len(report["metrics"]["test"]["confusion"]) == 3
    )
    records = tmp_path / "r.csv"
    records.write_text(
        "sid,temp,humidity,cls\na,20,60,x\na,21,59,x\nb,20,60,x\nb,bad,60,x\nb,20,61,x\n"
    )
    c = CliRunner().invoke(
        main,
        [
            "classify",
            str(out / "model.onnx"),
            "--source",
            str(records),
            "--seq-id",
            "sid",
            "--ignore",
            "cls",
        ],
    )
    assert c.exit_code == 0, c.output
    lines = [json.loads(x) for x in c.stdout.splitlines()]
    steps = [x for x in lines if "final" not in x]  # each sequence also ends with its final label
    assert [(x["seq_id"], x["step"]) for x in steps] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert [(x["seq_id"], x["steps"]) for x in lines if "final" in x] == [("a", 2), ("b", 2)]
    assert steps[0]["probabilities"] == steps[2]["probabilities"]  # same record, fresh state
    assert "4 records classified, 1 rejected" in c.stderr
    j = CliRunner().invoke(
        main,
        ["classify", str(out / "model.onnx"), "--source", "-"],
        input='{"temp": 20, "humidity": 60}\n{"temp": 21, "humidity": 59}\n',
    )
    assert j.exit_code == 0
    assert [json.loads(x).get("step", "final") for x in j.stdout.splitlines()] == [1, 2, "final"]


def test_cli_train_text_then_classify(text_csv, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "classify",
            "--data",
            str(text_csv),
            "--text",
            "body",
            "--label",
            "topic",
            "--tokenizer",
            "word",
            "--vocab-size",
            "20",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["task"] == "classify"
    c = CliRunner().invoke(
        main,
        ["classify", str(tmp_path / "model.onnx"), "--text", "the cat and the unicorn", "--json"],
    )
    assert c.exit_code == 0, c.output
    out = json.loads(c.stdout)
    assert (
        out["tokens"] == 5
        and out["unknown_tokens"] == 2
        and set(out["probabilities"]) == {"animal", "money"}
    )


def test_cli_bad_columns_are_one_line(text_csv, tmp_path):
    r = CliRunner().invoke(
        main,
        [
            "train",
            "classify",
            "--data",
            str(text_csv),
            "--text",
            "nope",
            "--label",
            "topic",
            "--out",
            str(tmp_path),
        ],
    )
    assert (
        r.exit_code == 5
        and r.stderr.strip().startswith("error: --text 'nope'")
        and "Traceback" not in r.output
    )
