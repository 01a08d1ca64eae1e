"""Valid inputs for the benchmarks, made from a model's signature alone.

Sensor rows in user units (``sample_rows``: offset + scale * N(0, 1) per feature), scaled for
the graph; or token ids drawn from the tokenizer's vocabulary without <unk>, the seq2seq
specials and unprintable tokens. Every input is seeded: a run is repeatable.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgernn.bench.measure import sample_rows
from edgernn.signature import Signature, Tokenizer

VARIANTS = 4  # distinct inputs per shape, cycled, so no call reuses the last call's data
SINGLE = 1024  # distinct inputs of the single-stream loop


def tokenizer(sig: Signature) -> Tokenizer:
    """The tokenizer of a text model's signature (a sensor model has none: a bug to ask)."""
    if sig.tokenizer is None:
        raise TypeError(f"a {sig.task} model of sensor rows has no tokenizer")
    return sig.tokenizer


def content_ids(sig: Signature) -> np.ndarray:
    """Token ids to draw from: the vocabulary without <unk>, seq2seq specials and unprintable
    tokens."""
    tok = tokenizer(sig)
    special = {tok.unk, *(sig.seq2seq.special.values() if sig.seq2seq else ())}
    ids = [i for i, t in enumerate(tok.vocab) if t not in special and t.isprintable()]
    return np.asarray(ids or range(len(tok.vocab)), dtype=np.int64)


def token_ids(sig: Signature, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """int64 ids of ``shape`` drawn uniformly from ``content_ids``."""
    return np.random.default_rng(seed).choice(content_ids(sig), size=shape).astype(np.int64)


def sample_text(sig: Signature, n: int, seed: int) -> str:
    """``n`` tokens of valid text (no specials, printable) for a command line."""
    return tokenizer(sig).decode(token_ids(sig, (n,), seed))


def jsonl_records(sig: Signature, n: int, seed: int) -> bytes:
    """``n`` sensor records as JSON lines (feature -> value, user units): a command's stdin."""
    rows = sample_rows(sig, n, seed)
    return "".join(json.dumps(dict(zip(sig.features, map(float, r)))) + "\n" for r in rows).encode()


class Feeds:
    """Valid inputs of one signature: sensor rows in user units (scaled for the graph), or
    token ids."""

    def __init__(self, sig: Signature, seed: int):
        self.sig, self.seed, self.tokens = sig, seed, sig.tokenizer is not None

    def user(self, batch: int, steps: int, k: int = 0) -> np.ndarray:
        """Variant ``k``: (B, T, F) rows in user units, or (B, T) token ids."""
        if self.tokens:
            return token_ids(self.sig, (batch, steps), self.seed + k)
        return sample_rows(self.sig, batch * steps, self.seed + k).reshape(batch, steps, -1)

    def graph(self, user: np.ndarray) -> np.ndarray:
        """What the graph reads: rows scaled to model units, token ids unchanged."""
        return user if self.tokens else self.sig.input_scaler.transform(user)

    def variants(self, batch: int, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``VARIANTS`` inputs of (batch, steps): user units, and the graph's."""
        users = [self.user(batch, steps, k) for k in range(VARIANTS)]
        return users, [self.graph(u) for u in users]

    def singles(self) -> tuple[list[Any], list[np.ndarray]]:
        """``SINGLE`` one-step inputs: what the step API takes (an int id or a row), and the
        graph's (1, 1[, F])."""
        user = self.user(SINGLE, 1)[:, 0]  # (N,) ids or (N, F) rows
        graph = [g[None, None] for g in self.graph(user)]
        return (user.tolist() if self.tokens else list(user)), graph
