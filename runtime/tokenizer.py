"""Text <-> token ids for text models; stored in their signature."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Tokenizer:
    """Text <-> token ids, stored in the signature of text models.

    >>> tok = Tokenizer("char", ("<unk>", "a", "b", " "))
    >>> tok.encode("ab ac"), tok.decode([1, 2, 3])
    ([1, 2, 3, 1, 0], 'ab ')
    """

    kind: str  # "char" (one token per character) or "word" (whitespace-separated words)
    vocab: tuple[str, ...]  # token id -> token; includes ``unk``
    unk: str = "<unk>"  # stands for anything outside the vocabulary

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.vocab)}

    def tokens(self, text: str) -> list[str]:
        return list(text) if self.kind == "char" else text.split()

    def id_of(self, token: str, default: int | None = None) -> int:
        """A token's id; ``default`` (or <unk>'s id) for one outside the vocabulary."""
        return self._ids.get(token, self._ids[self.unk] if default is None else default)

    def encode(self, text: str) -> list[int]:
        unk = self._ids[self.unk]
        return [self._ids.get(t, unk) for t in self.tokens(text)]

    def decode(self, ids: Iterable[int]) -> str:
        sep = "" if self.kind == "char" else " "
        return sep.join(self.vocab[int(i)] for i in ids)
