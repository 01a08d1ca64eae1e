"""How good a music model is, measured through the exported graph by the runtime.

- **Held-out likelihood**: every held-out piece (whole pieces, in their written key) streamed
  from a fresh state after ``<bos>``, each event scored given everything before it
  (``MusicGenerator.nll``): negative log-likelihood per event (nats) and its perplexity, next
  to a **unigram** and a **bigram** model of the same training events (the same vocabulary,
  transposed copies included) on the same events. The unigram is add-one smoothed; the bigram
  is interpolated with it, P(b | a) = (c(a, b) + 5 P(b)) / (c(a) + 5).
- **Statistics of generated music** (``edgernn.tasks.music_stats``): pieces generated with
  the runtime at temperature 1, against the training pieces (untransposed) and, for scale, the
  held-out pieces against the same training pieces.

>>> ids = np.array([1, 2, 3, 2, 3, 1, 2, 3])
>>> uni, bi = ngram_baselines(ids, [[1, 2, 3]], vocab_size=4)
>>> uni["perplexity"] > bi["perplexity"]
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import edgernn
from edgernn.tasks.music import MusicGenerator, Note
from edgernn.tasks.music_stats import compare, melody_stats
from edgernn.train.music.corpus import Piece, encode

BIGRAM_PRIOR = 5.0  # pseudo-counts of the unigram in each bigram row


def heldout_nll(onnx: Path, pieces: Sequence[Piece]) -> dict:
    """The exported graph's negative log-likelihood per held-out event, by the runtime."""
    gen = MusicGenerator(edgernn.load(onnx, provider="cpu"))
    total, events, unknown = 0.0, 0, 0
    for p in pieces:
        nats, n = gen.nll(p.notes)
        total, events = total + nats, events + n
        unknown += int(np.count_nonzero(gen.encode(p.notes) == gen.unk_id))
    nll = total / max(events, 1)
    return {
        "pieces": len(pieces),
        "events": events,
        "unknown_events": unknown,
        "nll": round(nll, 4),
        "perplexity": round(math.exp(nll), 3),
        "computed_by": "edgernn.tasks.music.MusicGenerator.nll on the exported graph",
    }


def ngram_baselines(
    train_ids: np.ndarray, heldout: Sequence[Sequence[int]], vocab_size: int
) -> tuple[dict, dict]:
    """(unigram, bigram) NLL per event and perplexity on ``heldout`` id sequences (each starting
    with <bos>, the first id not scored), fitted on ``train_ids`` (N,)."""
    uni = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0  # (V,)
    uni /= uni.sum()
    pairs = np.zeros((vocab_size, vocab_size))  # (V, V) counts of (previous, next)
    np.add.at(pairs, (train_ids[:-1], train_ids[1:]), 1.0)
    bigram = (pairs + BIGRAM_PRIOR * uni[None]) / (pairs.sum(1, keepdims=True) + BIGRAM_PRIOR)
    u_nll = b_nll = 0.0
    n = 0
    for seq in heldout:
        s = np.asarray(seq)
        u_nll -= float(np.log(uni[s[1:]]).sum())
        b_nll -= float(np.log(bigram[s[:-1], s[1:]]).sum())
        n += len(s) - 1
    return (
        {"nll": round(u_nll / n, 4), "perplexity": round(math.exp(u_nll / n), 3)},
        {"nll": round(b_nll / n, 4), "perplexity": round(math.exp(b_nll / n), 3)},
    )


def generated_stats(
    onnx: Path,
    train: Sequence[Piece],
    heldout: Sequence[Piece],
    pieces: int,
    events: int,
    seed: int,
) -> dict:
    """Statistics of ``pieces`` generated pieces (seeds seed..seed+pieces-1, temperature 1)
    and of the held-out pieces, each against the training pieces; generation speed."""
    gen = MusicGenerator(edgernn.load(onnx, provider="cpu"))
    made: list[list[Note]] = []
    t0 = time.perf_counter()
    for s in range(seed, seed + pieces):
        made.append(list(gen.notes(max_events=events, temperature=1.0, seed=s)))
    seconds = time.perf_counter() - t0
    reference = melody_stats([p.notes for p in train])
    generated = melody_stats(made)
    held = melody_stats([p.notes for p in heldout])
    return {
        "generated": generated,
        "training": reference,
        "heldout": held,
        "generated_vs_training": compare(generated, reference),
        "heldout_vs_training": compare(held, reference),
        "settings": f"{pieces} pieces of {events} events, temperature 1.0, seeds {seed}..",
        "events_per_s": round(pieces * events / seconds, 1),
    }


def heldout_ids(pieces: Sequence[Piece], vocab: Sequence[str]) -> list[list[int]]:
    """Each held-out piece as ids, <bos> first (unknown events as <unk>)."""
    return [encode([p], vocab).tolist() for p in pieces]
