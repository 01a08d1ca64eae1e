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
    path.write_text(
        "".join(f"__label__{data.labels[c]} {t}\n" for t, c in zip(data.sequences, data.y))
    )
    report = run_classify(data=str(path), epochs=8, out=tmp_path / "run", quiet=True)
    test, base = report["metrics"]["test"], report["baseline"]["majority"]["test_accuracy"]
    assert report["config"]["tokenizer"] == "word" and report["arch"] == "tcn"
    assert base == pytest.approx(0.5) and test["n"] == 44
    assert test["accuracy"] >= 0.8, report["training"]["history"]
