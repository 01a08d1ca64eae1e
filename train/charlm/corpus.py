"""The char LM's text: a corpus split chronologically into train / val token ids, and random
training windows of it. The val split is the text's contiguous tail (``--val``): training never
sees it, its characters are not even in the vocabulary unless they also occur before it.
The default corpus is Python's own documentation text
(``pydoc_data.topics``), available offline everywhere.

>>> corpus = Corpus.from_text("abracadabra " * 50, vocab_size=4, val_frac=0.1)
>>> corpus.vocab, len(corpus.train) + len(corpus.val), corpus.heldout_from, corpus.val_text[:5]
(('<unk>', 'a', 'b', 'r', 'c'), 600, 540, 'abrac')
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgernn.errors import DataError
from edgernn.signature import Tokenizer

UNK = "<unk>"


@dataclass
class Corpus:
    """A text split chronologically into train / val token ids, with its vocabulary."""

    vocab: tuple[str, ...]  # id -> character; id 0 is "<unk>"
    train: np.ndarray  # (N_train,) int64
    val: np.ndarray  # (N_val,) int64
    source: str = "text"  # where the text came from
    unknown: dict = field(default_factory=dict)  # unknown-character counts per split
    heldout_from: int = 0  # character offset in the text where the held-out tail (val) starts
    val_text: str = ""  # the held-out tail itself, scored through the exported graph

    @classmethod
    def from_text(
        cls, text: str, vocab_size: int = 96, val_frac: float = 0.1, source: str = "text"
    ) -> Corpus:
        """Vocabulary = the ``vocab_size`` most frequent training characters (ties by first use)
        plus "<unk>"."""
        cut = int(len(text) * (1 - val_frac))
        counts = collections.Counter(text[:cut])
        vocab = (UNK, *(c for c, _ in counts.most_common(vocab_size)))
        tok = Tokenizer("char", vocab, UNK)
        train, val = (np.array(tok.encode(t), dtype=np.int64) for t in (text[:cut], text[cut:]))
        return cls(
            vocab,
            train,
            val,
            source,
            {"train": int((train == 0).sum()), "val": int((val == 0).sum())},
            cut,
            text[cut:],
        )

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer("char", self.vocab, UNK)


def read_corpus(name: str) -> tuple[str, str]:
    """(text, description): "pydoc" = every pydoc_data topic, in sorted key order; else a UTF-8
    file."""
    if name == "pydoc":
        from pydoc_data.topics import topics

        return "".join(
            topics[k] for k in sorted(topics)
        ), "pydoc_data.topics.topics (Python's documentation text), sorted keys"
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DataError(
            f"--corpus {name!r} does not exist; pass 'pydoc' or the path of a UTF-8 text file"
        ) from e
    except UnicodeDecodeError as e:
        raise DataError(
            f"--corpus {name!r} is not UTF-8 text; convert it (e.g. iconv -t utf-8)"
        ) from e
    return text, str(path)


def windows(
    ids: np.ndarray, batch: int, window: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random contiguous windows: inputs (B, W) and next-character targets (B, W)."""
    if len(ids) < window + 2:
        raise DataError(
            f"the text split has {len(ids)} characters, fewer than --window {window} + 2; use a "
            "longer text or a smaller --window"
        )
    starts = rng.integers(0, len(ids) - window - 1, size=batch)
    idx = starts[:, None] + np.arange(window + 1)  # (B, W + 1)
    chunk = torch.from_numpy(ids[idx])
    return chunk[:, :-1], chunk[:, 1:]
