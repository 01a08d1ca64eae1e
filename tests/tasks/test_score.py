"""``edgernn.tasks.score``: bits per character of a text under a char LM, checked against a
direct numpy computation from the graph's logits (the shipped char-lm.onnx, torch-free)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import edgernn
import edgernn.tasks.score as score_module
from edgernn.cli.generate_cmd import default_model_path
from edgernn.core.model import default_model_path as forecast_model_path
from edgernn.errors import DataError, UsageError
from edgernn.tasks.score import score_text

TEXT = (
    "The value of x is returned when it is set.\n"
    "Otherwise None is returned, and ☃ is not in the vocabulary.\n"
    "\n"
    "for item in items: pass\n"
)


@pytest.fixture(scope="module")
def lm() -> edgernn.Model:
    return edgernn.load(default_model_path(), provider="cpu")


def direct_bits(lm: edgernn.Model, text: str) -> np.ndarray:
    """-log2 p of every character after the first, from one graph call over the whole text."""
    tok = lm.signature.tokenizer
    ids = np.array([tok.encode(text)], dtype=np.int64)  # (1, N)
    logits, _ = lm.run(ids[:, :-1], lm.initial_state(1))  # (1, N - 1, V)
    z = logits[0].astype(np.float64)  # (N - 1, V)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return -np.log2(p[np.arange(len(ids[0]) - 1), ids[0, 1:]])  # (N - 1,)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_score_equals_numpy_from_the_graph_logits_at_any_chunk_size(lm, chunk):
    want = direct_bits(lm, TEXT)
    s = score_text(lm, TEXT, chunk=chunk)
    assert s.chars == len(TEXT) and s.scored == len(TEXT) - 1
    assert s.bits == pytest.approx(want.sum(), rel=1e-6)
    assert s.bits_per_char == pytest.approx(want.mean(), rel=1e-6)


def test_per_line_figures_split_the_total_at_each_newline(lm):
    want = direct_bits(lm, TEXT)  # want[j] scores TEXT[j + 1]
    s = score_text(lm, TEXT, per_line=True, chunk=5)
    lines = TEXT.splitlines(keepends=True)
    assert [line.chars for line in s.lines] == [len(line) for line in lines]
    assert [line.scored for line in s.lines] == [len(lines[0]) - 1] + [len(x) for x in lines[1:]]
    start = 0
    for got, line in zip(s.lines, lines):
        first = max(start - 1, 0)  # the text's first character has no score
        assert got.bits == pytest.approx(want[first : start + len(line) - 1].sum(), rel=1e-6)
        start += len(line)
    assert sum(line.bits for line in s.lines) == pytest.approx(s.bits, rel=1e-12)
    assert s.lines[2].chars == 1 and s.lines[2].bits_per_char == pytest.approx(s.lines[2].bits)


def test_characters_outside_the_vocabulary_are_scored_as_unk_and_counted(lm):
    vocab = set(lm.signature.tokenizer.vocab)
    assert "☃" not in vocab
    s = score_text(lm, TEXT)
    assert s.unknown_chars == sum(ch not in vocab for ch in TEXT) >= 1
    doubled = score_text(lm, TEXT.replace("☃", "\u2603\u2603"))
    assert doubled.unknown_chars == s.unknown_chars + 1 and math.isfinite(doubled.bits)


def test_a_text_without_a_newline_is_one_line(lm):
    s = score_text(lm, "no newline here", per_line=True)
    assert len(s.lines) == 1 and s.lines[0].scored == s.scored == 14


def test_a_forecaster_is_refused_naming_its_task():
    with pytest.raises(UsageError, match="'forecast' model; `edgernn score` needs a character LM"):
        score_text(edgernn.load(forecast_model_path(), provider="cpu"), TEXT)


@pytest.mark.parametrize("text", ["", "x"])
def test_too_short_a_text_is_refused(lm, text):
    with pytest.raises(DataError, match="at least 2"):
        score_text(lm, text)


def test_doctests():
    result = doctest.testmod(score_module)
    assert result.attempted > 0 and result.failed == 0
