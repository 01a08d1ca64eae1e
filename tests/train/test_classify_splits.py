"""Splits a user can trust: an official test file (--test-data), stratified validation that
keeps every class, k-fold with mean ± std; the report (per class, confusion, majority baseline,
report.png); and `edgernn classify` giving each streamed sequence's final label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from cli_checks import one_clear_line  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.train.classify.splits import split_indices, stratified_folds  # noqa: E402
from edgernn.train.classify.train import run_classify  # noqa: E402

TINY = {"hidden": (8,), "epochs": 4, "patience": 0, "quiet": True}


def ts_file(path: Path, n: int, seed: int) -> Path:
    """Rising, falling and flat series of 6-14 steps (2 channels), as a .ts file."""
    rng = np.random.default_rng(seed)
    lines = ["@problemName slopes", "@univariate false", "@equalLength false",
             "@classLabel true up down flat", "@data"]  # fmt: skip
    for i in range(n):
        label = ("up", "down", "flat")[i % 3]
        t = int(rng.integers(6, 15))
        slope = {"up": 1.0, "down": -1.0, "flat": 0.0}[label]
        a = slope * np.arange(t) + rng.normal(0, 0.3, t)
        b = rng.normal(0, 1, t)
        lines.append(f"{','.join(f'{v:.3f}' for v in a)}:{','.join(f'{v:.3f}' for v in b)}:{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_validation_never_leaves_a_class_out():
    y = np.array([0] * 40 + [1] * 4 + [2] * 2)
    for seed in range(5):
        train, val, test = split_indices(y, 0.1, 0.1, seed)
        assert set(y[val]) == {0, 1, 2} and set(y[train]) == {0, 1, 2}
        assert set(y[test]) == {0, 1}  # a class of 2 keeps one to train and one to validate
    folds = stratified_folds(y, 4, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(len(y)))
    assert all(np.bincount(y[f], minlength=3)[0] == 10 for f in folds)


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[dict, Path, Path]:
    tmp = tmp_path_factory.mktemp("official")
    train, test = ts_file(tmp / "S_TRAIN.ts", 30, 0), ts_file(tmp / "S_TEST.ts", 12, 1)
    report = run_classify(data=str(train), test_data=str(test), out=tmp / "run", **TINY)
    return report, tmp / "run", test


def test_an_official_test_file_is_the_test_split_and_the_report_has_it_all(official):
    report, out, _ = official
    data = report["data"]
    assert data["sequences"] == {"train": 24, "val": 6, "test": 12}  # val: 20% of each class
    assert data["val_classes"] == 3 and data["split"].startswith("as given by the data")
    test = report["metrics"]["test"]
    assert test["n"] == 12 and set(test["per_class"]) == {"up", "down", "flat"}
    assert np.array(test["confusion"]).sum() == 12
    assert report["baseline"]["majority"]["test_accuracy"] == pytest.approx(4 / 12)
    assert "train + val (30 sequences)" in report["training"]["refit"]  # retrained, or said why not
    assert (out / "report.png").stat().st_size > 1000 and (out / "model.onnx").is_file()


def test_k_fold_reports_mean_std_and_each_fold(tmp_path):
    train = ts_file(tmp_path / "S_TRAIN.ts", 24, 2)
    r = CliRunner().invoke(
        main,
        ["train", "classify", "--data", str(train), "--folds", "3", "--hidden", "8",
         "--epochs", "2", "--no-refit", "--quiet", "--out", str(tmp_path / "cv")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    folds = report["folds"]
    acc = [f["accuracy"] for f in folds["per_fold"]]
    assert folds["k"] == 3 and [f["n"] for f in folds["per_fold"]] == [8, 8, 8]
    assert folds["accuracy_mean"] == pytest.approx(np.mean(acc), abs=1e-4)
    assert folds["accuracy_std"] == pytest.approx(np.std(acc), abs=1e-4)
    assert "3-fold accuracy" in r.stdout and "± " in r.stdout
    bad = CliRunner().invoke(
        main, ["train", "classify", "--data", str(train), "--folds", "3", "--test-data",
               str(train), "--quiet"],
    )  # fmt: skip
    one_clear_line(bad, 2, "--folds draws its own test folds")


def test_streaming_gives_each_sequence_its_final_label(official, tmp_path):
    _, out, _ = official
    records = tmp_path / "live.csv"
    records.write_text("sid,dim0,dim1\na,0,0\na,1,0.5\na,2,-1\nb,0,0\nb,-1,1\nEND\nc,0,0\n")
    r = CliRunner().invoke(
        main,
        ["classify", str(out / "model.onnx"), "--source", str(records), "--seq-id", "sid",
         "--end-marker", "END"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    finals = [x for x in lines if "final" in x]
    assert [(x["seq_id"], x["steps"]) for x in finals] == [("a", 3), ("b", 2), ("c", 1)]
    steps = [x for x in lines if "final" not in x]
    assert [x["step"] for x in steps] == [1, 2, 3, 1, 2, 1]
    last_of_a = steps[2]
    assert finals[0]["final"] == last_of_a["label"]
    assert finals[0]["probabilities"] == last_of_a["probabilities"]
    assert sum(finals[1]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
