"""The shipped melody model, exported/music-bach.onnx, held to its golden file: the runtime
matches the PyTorch checkpoint's logits, and the greedy and seeded sampled continuations of
the golden prompt come out event for event (``python -m edgernn.train.rebuild music-bach``
writes them)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgernn
from edgernn.cli.generate_cmd import DEFAULT_MUSIC_MODEL, default_model_path
from edgernn.tasks.music import MusicGenerator, note_of, token_of

PATH = default_model_path(DEFAULT_MUSIC_MODEL)
GOLDEN = json.loads(PATH.with_name("music-bach.golden.json").read_text())


@pytest.fixture(scope="module")
def gen() -> MusicGenerator:
    return MusicGenerator(edgernn.load(PATH, provider="cpu"))


def prompt() -> list:
    return [note_of(t) for t in GOLDEN["prompt"]]


def test_the_shipped_model_is_small_and_verified(gen):
    sig = gen.model.signature
    assert sig.task == "music" and sig.tokenizer.kind == "word"
    assert sig.parity["max_abs_error"] <= 1e-5
    assert PATH.stat().st_size < 2_000_000
    assert gen.model.model_id == GOLDEN["model_id"]


def test_runtime_logits_match_the_pytorch_checkpoint(gen):
    ids = np.array([GOLDEN["prompt_ids"]], dtype=np.int64)  # (1, T)
    logits, _ = gen.model.run(ids, gen.model.initial_state(1))  # (1, T, V)
    assert np.max(np.abs(logits[0] - np.array(GOLDEN["torch_logits"]))) <= 1e-4


def test_greedy_and_seeded_continuations_are_the_golden_ones(gen):
    n = len(GOLDEN["greedy"])
    greedy = [token_of(e) for e in gen.notes(prompt(), n, temperature=0.0)]
    assert greedy == GOLDEN["greedy"]
    s = GOLDEN["sampled"]
    sampled = gen.notes(prompt(), n, temperature=s["temperature"], seed=s["seed"])
    assert [token_of(e) for e in sampled] == s["events"]
