"""Text classification with the defaults on a small polarity set (the finding: a few hundred
labelled sentences used to train to chance, below the majority class)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from edgernn.train.classify.data import polarity  # noqa: E402
from edgernn.train.classify.train import run_classify  # noqa: E402


def test_polarity_sentences_learn_far_above_the_majority_class(tmp_path):
    path = tmp_path / "reviews.txt"  # fastText, as such sets are shipped
    data = polarity(300, seed=3)
    lines = [f"__label__{data.labels[c]} {t}\n" for t, c in zip(data.sequences, data.y)]
    lines[0] = lines[0].rstrip("\n") + " at the caf\u00e9\n"  # written on Windows: cp1252
    path.write_bytes("".join(lines).encode("cp1252"))
    report = run_classify(data=str(path), epochs=8, out=tmp_path / "run", quiet=True)
    test, base = report["metrics"]["test"], report["baseline"]["majority"]["test_accuracy"]
    assert report["config"]["tokenizer"] == "word" and report["arch"] == "tcn"
    assert base == pytest.approx(0.5) and test["n"] == 44
    assert test["accuracy"] >= 0.8, report["training"]["history"]
    assert "is not UTF-8" in report["notes"][0] and "read it as cp1252" in report["notes"][0]
