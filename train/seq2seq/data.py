"""Seq2seq data: (source, target) string pairs from ``synth:reverse`` or a two-column CSV/TSV,
their character vocabulary, and padded teacher-forcing batches.

>>> pairs = synth_reverse(3, np.random.default_rng(0))
>>> all(t == s[::-1] and 3 <= len(s) <= 10 and s.isdigit() for s, t in pairs)
True
>>> build_vocab([("ab", "ba")])
('<unk>', '<s>', '</s>', 'a', 'b')
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgernn.errors import DataError, UsageError
from edgernn.signature import Tokenizer
from edgernn.train.seq2seq.model import BOS, BOS_ID, EOS, EOS_ID, SYNTH, UNK, Seq2SeqConfig

Pair = tuple[str, str]  # (source line, target line)


def synth_reverse(n: int, rng: np.random.Generator) -> list[Pair]:
    """``n`` random digit strings of length 3-10, each paired with its reverse."""
    pairs = []
    for _ in range(n):
        s = "".join(map(str, rng.integers(0, 10, size=int(rng.integers(3, 11)))))
        pairs.append((s, s[::-1]))
    return pairs


def read_pairs(path: str) -> list[Pair]:
    """(source, target) rows of a two-column CSV or TSV (tab-separated when the name ends in .tsv
    or the first line has a tab). A first row ``source,target`` is a header and skipped."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(
            f"--data {path!r} does not exist; pass synth:reverse or a two-column CSV/TSV (source, "
            "target)"
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(
            f"--data {path!r} is not UTF-8 text; convert it (e.g. iconv -t utf-8)"
        ) from e
    lines = text.splitlines()
    delim = "\t" if p.suffix.lower() == ".tsv" or (lines and "\t" in lines[0]) else ","
    rows = [r for r in csv.reader(lines, delimiter=delim) if r]
    if rows and [c.strip().lower() for c in rows[0]] == ["source", "target"]:
        rows = rows[1:]
    for i, r in enumerate(rows, 1):
        if len(r) != 2 or not r[0] or not r[1]:
            raise DataError(
                f"--data {path!r} row {i} has {len(r)} column(s) ({r!r:.60}); each row must be: "
                "source, target (both non-empty)"
            )
    if len(rows) < 2:
        raise DataError(
            f"--data {path!r} has {len(rows)} pair(s); give at least 2 rows of source, target"
        )
    return [(r[0], r[1]) for r in rows]


def load_pairs(config: Seq2SeqConfig) -> tuple[list[Pair], list[Pair], str]:
    """(train pairs, val pairs, description)."""
    if config.data == SYNTH:
        pairs = synth_reverse(config.synth_pairs, np.random.default_rng(config.seed))
        source = f"{SYNTH} ({config.synth_pairs} pairs, seed {config.seed})"
    elif config.data.startswith("synth:"):
        raise UsageError(f"unknown synthetic task {config.data!r}; the one available is {SYNTH}")
    else:
        pairs = read_pairs(config.data)
        source = config.data
    cut = max(1, min(len(pairs) - 1, int(round(len(pairs) * (1 - config.val_frac)))))
    return pairs[:cut], pairs[cut:], source


def build_vocab(pairs: list[Pair]) -> tuple[str, ...]:
    chars = sorted({ch for s, t in pairs for ch in s + t})
    return (UNK, BOS, EOS, *chars)


def tokenizer(vocab: Sequence[str]) -> Tokenizer:
    return Tokenizer("char", tuple(vocab), UNK)


def batch_tensors(
    pairs: list[Pair], tok: Tokenizer
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(src (B, S), lengths (B,), tgt_in (B, T) = <s> + target, tgt_out (B, T) = target +
    </s>), padded with 0."""
    src = [tok.encode(s) for s, _ in pairs]
    tgt = [tok.encode(t) for _, t in pairs]
    S, T = max(map(len, src)), max(map(len, tgt)) + 1
    x = torch.zeros(len(pairs), S, dtype=torch.long)
    tin = torch.zeros(len(pairs), T, dtype=torch.long)
    tout = torch.zeros(len(pairs), T, dtype=torch.long)
    for i, (s, t) in enumerate(zip(src, tgt)):
        x[i, : len(s)] = torch.tensor(s)
        tin[i, : len(t) + 1] = torch.tensor([BOS_ID, *t])
        tout[i, : len(t) + 1] = torch.tensor([*t, EOS_ID])
    return x, torch.tensor([len(s) for s in src]), tin, tout


@dataclass
class Pairs:
    """What a seq2seq model was trained on."""

    vocab: tuple[str, ...]  # id -> token: the specials, then the characters of the training pairs
    source: str  # where the pairs came from
    sizes: dict  # pairs per split (train, val) and the longest training source / target line
