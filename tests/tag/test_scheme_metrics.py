"""Tag schemes, spans and entity metrics (runtime side, no torch); the metrics agree with
seqeval's on random tag sequences, valid or not."""

from __future__ import annotations

import random

import pytest

from edgernn.errors import DataError, UsageError
from edgernn.tasks.tag_decode import FixedLagViterbi, viterbi
from edgernn.tasks.tag_metrics import scores
from edgernn.tasks.tag_scheme import check_scheme, detect_scheme, spans, to_iob2

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_schemes_become_the_same_iob2():
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"]
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-LOC", "I-LOC", "O", "I-ORG"]
    iobes = ["B-PER", "E-PER", "S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "O", "S-ORG"]
    assert detect_scheme([iob1]) == "iob1" and detect_scheme([iobes]) == "iobes"
    assert detect_scheme([iob2]) == "iob2"
    for tags, scheme in ((iob2, "iob2"), (iob1, "iob1"), (iobes, "iobes")):
        assert to_iob2(tags, scheme) == iob2
    assert spans(iob2) == [(0, 2, "PER"), (2, 3, "PER"), (4, 7, "LOC"), (8, 9, "ORG")]


def test_bad_tags_and_schemes_are_named():
    with pytest.raises(DataError, match="'PER'"):
        to_iob2(["PER"], "iob2")
    with pytest.raises(UsageError, match="'bio3'.*iob1, iob2, iobes"):
        check_scheme("bio3")


def test_metrics_match_seqeval_on_random_sequences():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = random.Random(0)
    gold = [[rng.choice(TAGS) for _ in range(rng.randint(1, 12))] for _ in range(400)]
    pred = [[t if rng.random() < 0.7 else rng.choice(TAGS) for t in g] for g in gold]
    ours = scores(gold, pred)
    theirs = seqeval.classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, row in ours["per_type"].items():
        for key in ("precision", "recall", "f1"):
            assert row[key] == pytest.approx(
                theirs[kind][f"{key}-score"] if key == "f1" else theirs[kind][key]
            )
        assert row["support"] == theirs[kind]["support"]
    assert ours["micro"]["f1"] == pytest.approx(seqeval.f1_score(gold, pred))
    assert ours["micro"]["precision"] == pytest.approx(seqeval.precision_score(gold, pred))
    assert ours["micro"]["recall"] == pytest.approx(seqeval.recall_score(gold, pred))
    assert ours["token_accuracy"] == pytest.approx(seqeval.accuracy_score(gold, pred))


def test_fixed_lag_decoding_converges_to_viterbi_and_keeps_the_scheme():
    """With a lag as long as the sentence the fixed-lag tags are the Viterbi path; at any lag
    they never put an I- after O (the forbidden transitions hold across committed tags)."""
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(1)
    k = len(TAGS)
    trans = rng.normal(0, 1, (k, k))
    start = rng.normal(0, 1, k)
    for a, prev in enumerate(TAGS):
        for b, tag in enumerate(TAGS):
            if tag.startswith("I-") and prev[2:] != tag[2:]:
                trans[a, b] = -10000.0
    start[[i for i, t in enumerate(TAGS) if t.startswith("I-")]] = -10000.0
    end = rng.normal(0, 1, k)
    for _ in range(200):
        emit = rng.normal(0, 3, (int(rng.integers(1, 10)), k))
        full = viterbi(emit, trans, start, end)
        for lag in (0, 1, 2, 4, 20):
            dec = FixedLagViterbi(trans, start, end, lag)
            tags = [t for e in emit for t in dec.push(e)] + dec.flush()
            assert len(tags) == len(emit)
            names = [TAGS[t] for t in tags]
            assert to_iob2(names, "iob2") == names  # never a stray I-
            if lag >= len(emit):
                assert tags == full
