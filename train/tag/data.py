"""Tagging data for training: where sentences come from (a CoNLL file, ``cc0:ner``, the shipped
hand-written file, or ``synth:entities[:N]``), the vocabularies, and padded batches.

>>> train, val, test, source = load_splits("synth:entities:50", None, None, seed=0)
>>> len(train), len(val), len(test)
(40, 5, 5)
>>> vocab = Vocab.build(train)
>>> vocab.tags[0], vocab.words[:2], vocab.chars[:2]
('O', ('<pad>', '<unk>'), ('<pad>', '<unk>'))
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from edgernn.errors import DataError, UsageError
from edgernn.tasks.tag import UNK, char_ids
from edgernn.tasks.tag_scheme import allowed, split_tag
from edgernn.train.tag.conll import Sentence, read_conll
from edgernn.train.tag.synth import entity_sentences

SHIPPED = Path(__file__).parent / "data" / "ner-cc0.conll"  # the hand-written CC0 IOB2 file
SYNTH = "synth:entities"  # the seeded generator, synth:entities:N for N sentences
SYNTH_DEFAULT = 3000  # sentences of synth:entities without :N


def read_source(
    spec: str, column: int = -1, scheme: str = "auto", seed: int = 0, token_column: int = 0
) -> list[Sentence]:
    """The sentences of ``--data`` / ``--val`` / ``--test``: a CoNLL file, ``cc0:ner`` or
    ``synth:entities[:N]`` (seeded by ``seed``)."""
    if spec == "cc0:ner":
        return read_conll(SHIPPED)
    if spec == SYNTH or spec.startswith(SYNTH + ":"):
        n = spec[len(SYNTH) + 1 :] or str(SYNTH_DEFAULT)
        if not n.isdigit() or int(n) < 3:
            raise UsageError(f"{spec!r}: write synth:entities or synth:entities:N with N >= 3")
        return entity_sentences(int(n), seed=seed)
    if spec.startswith("synth:"):
        raise UsageError(f"unknown generator {spec!r}; the tagger's is {SYNTH}[:N]")
    return read_conll(spec, column=column, token_column=token_column, scheme=scheme)


def load_splits(
    data: str,
    val: str | None,
    test: str | None,
    seed: int = 0,
    column: int = -1,
    scheme: str = "auto",
    token_column: int = 0,
) -> tuple[list[Sentence], list[Sentence], list[Sentence], str]:
    """Train, validation and test sentences and how they were split. Without ``val`` / ``test``
    their share (10% each) is held out of ``data`` by a seeded shuffle."""
    train = read_source(data, column, scheme, seed, token_column)
    parts = [
        read_source(p, column, scheme, seed + 1 + i, token_column) if p else None
        for i, p in enumerate((val, test))
    ]
    held = [p is None for p in parts]
    if any(held):
        order = list(range(len(train)))
        random.Random(seed).shuffle(order)
        n = max(1, len(train) // 10)
        cut = [order[i * n : (i + 1) * n] for i in range(sum(held))]
        rest = order[sum(held) * n :]
        taken = iter(cut)
        parts = [p if p is not None else [train[i] for i in next(taken)] for p in parts]
        train = [train[i] for i in rest]
    if len(train) < 1:
        raise DataError(f"{data} leaves no training sentence; pass more data")
    how = (
        "given files"
        if not any(held)
        else f"10% of {data} held out per missing split (seed {seed})"
    )
    return train, parts[0] or [], parts[1] or [], how


@dataclass(frozen=True)
class Vocab:
    """Words, characters and tags of the training sentences."""

    words: tuple[str, ...]  # word id -> lower-cased word (0 <pad>, 1 <unk>)
    chars: tuple[str, ...]  # char id -> character (0 <pad>, 1 <unk>)
    tags: tuple[str, ...]  # tag id -> IOB2 tag ("O" first, then B-/I- by type)

    @classmethod
    def build(cls, sentences: Sequence[Sentence], min_count: int = 1) -> Vocab:
        words = Counter(w.lower() for s in sentences for w in s.tokens)
        chars = Counter(c for s in sentences for w in s.tokens for c in w)
        types = sorted({split_tag(t)[1] for s in sentences for t in s.tags} - {""})
        tags = ("O", *(f"{p}-{t}" for t in types for p in ("B", "I")))
        keep = sorted(w for w, n in words.items() if n >= min_count)
        return cls(("<pad>", "<unk>", *keep), ("<pad>", "<unk>", *sorted(chars)), tags)

    def constraints(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, K) allowed moves and (K,) allowed first tags of IOB2 over these tags."""
        k = len(self.tags)
        moves = torch.tensor([[allowed(a, b) for b in self.tags] for a in self.tags])
        first = torch.tensor([allowed("O", b) for b in self.tags])
        return moves.reshape(k, k), first


@dataclass
class Encoded:
    """Sentences as padded id tensors."""

    words: torch.Tensor  # (N, T) word ids, 0 past each sentence's end
    chars: torch.Tensor  # (N, T, L) char ids
    tags: torch.Tensor  # (N, T) tag ids
    lengths: torch.Tensor  # (N,) real tokens per sentence


def encode(sentences: Sequence[Sentence], vocab: Vocab, max_chars: int) -> Encoded:
    """All ``sentences`` padded to the longest; tags outside the vocabulary are an error.

    >>> s = [Sentence(["Hi", "Bo"], ["O", "B-PER"]), Sentence(["Bo"], ["B-PER"])]
    >>> e = encode(s, Vocab.build(s), max_chars=4)
    >>> e.words.tolist(), e.chars.shape, e.lengths.tolist()
    ([[3, 2], [2, 0]], torch.Size([2, 2, 4]), [2, 1])
    """
    w_ids = {w: i for i, w in enumerate(vocab.words)}
    c_ids = {c: i for i, c in enumerate(vocab.chars) if i > UNK}
    t_ids = {t: i for i, t in enumerate(vocab.tags)}
    n, t = len(sentences), max((len(s.tokens) for s in sentences), default=1)
    words = torch.zeros(n, t, dtype=torch.long)
    chars = torch.zeros(n, t, max_chars, dtype=torch.long)
    tags = torch.zeros(n, t, dtype=torch.long)
    for i, s in enumerate(sentences):
        unknown = [g for g in s.tags if g not in t_ids]
        if unknown:
            raise DataError(
                f"tag {unknown[0]!r} of a validation or test sentence never occurs in training; "
                "train on data with that entity type"
            )
        k = len(s.tokens)
        words[i, :k] = torch.tensor([w_ids.get(w.lower(), UNK) for w in s.tokens])
        chars[i, :k] = torch.tensor([char_ids(w, c_ids, max_chars) for w in s.tokens])
        tags[i, :k] = torch.tensor([t_ids[g] for g in s.tags])
    lengths = torch.tensor([max(1, len(s.tokens)) for s in sentences], dtype=torch.long)
    return Encoded(words, chars, tags, lengths)


def batch(e: Encoded, idx: torch.Tensor) -> Encoded:
    """The sentences ``idx``, cut to their longest.

    >>> s = [Sentence(["a", "b", "c"], ["O"] * 3), Sentence(["a"], ["O"])]
    >>> batch(encode(s, Vocab.build(s), 4), torch.tensor([1])).words.shape
    torch.Size([1, 1])
    """
    t = int(e.lengths[idx].max())
    return Encoded(e.words[idx, :t], e.chars[idx, :t], e.tags[idx, :t], e.lengths[idx])
