"""Named-entity tagging with a ``tag`` model: text -> tokens -> emissions (the graph) -> tags
(Viterbi over the CRF scores in the signature, numpy) -> entities.

A bidirectional tagger's graph reads a whole sentence at once (``signature.causal`` False;
a sentence longer than ``signature.window`` tokens is cut into overlapping windows and each
token keeps the emissions of the window it sits deepest in). A streaming tagger's graph steps
one token at a time with its LSTM state; ``TagStream`` decodes it with a fixed lag (each token's
tag is final ``lag`` tokens later).

Text is split by ``tokenize``: words (letters, digits and underscores, with inner hyphens,
apostrophes and periods: "Al-Sayed", "O'Neill", "U.S") and every other non-space character on
its own.

>>> tokenize("Angela Merkel visited Paris, on Monday!")
['Angela', 'Merkel', 'visited', 'Paris', ',', 'on', 'Monday', '!']
>>> t = Tagged(["Angela", "Merkel", "visited", "Paris"], ["B-PER", "I-PER", "O", "B-LOC"])
>>> t.inline()
'[Angela Merkel]PER visited [Paris]LOC'
>>> t.entities[1]
{'text': 'Paris', 'type': 'LOC', 'start': 3, 'end': 4}

``Tagger(edgernn.load("runs/ner/model.onnx")).tag_text("Angela Merkel visited Paris")`` runs a
trained model (tests/tag/test_tag_cli.py does, on a tiny one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from edgernn.core.protocols import LoadedModel
from edgernn.errors import SignatureError, UsageError
from edgernn.tasks.tag_decode import FixedLagViterbi, viterbi
from edgernn.tasks.tag_scheme import spans

PAD, UNK = 0, 1  # word and char ids of padding and of anything outside the vocabulary
_TOKEN = re.compile(r"\w+(?:['’\-.]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """``text`` split on whitespace and punctuation (see the module doc).

    >>> tokenize("O'Neill met the U.S. team (3-1).")
    ["O'Neill", 'met', 'the', 'U.S', '.', 'team', '(', '3-1', ')', '.']
    """
    return _TOKEN.findall(text)


def token_offsets(text: str) -> list[tuple[str, int, int]]:
    """Each token of ``text`` with its character offsets ``(token, start, end)``.

    >>> token_offsets("Hi, Bo")
    [('Hi', 0, 2), (',', 2, 3), ('Bo', 4, 6)]
    """
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def char_ids(word: str, chars: dict[str, int], max_chars: int) -> list[int]:
    """A word's char ids, padded with 0 to ``max_chars``; a longer word keeps its first and last
    ``max_chars // 2`` characters (prefix and suffix carry the most).

    >>> char_ids("abc", {"a": 2, "b": 3}, 4)
    [2, 3, 1, 0]
    """
    if len(word) > max_chars:
        half = max_chars // 2
        word = word[:half] + word[len(word) - (max_chars - half) :]
    ids = [chars.get(c, UNK) for c in word]
    return ids + [PAD] * (max_chars - len(ids))


@dataclass(frozen=True)
class TagInfo:
    """What decoding needs besides the graph, from ``signature.provenance["tagger"]``.

    >>> from types import SimpleNamespace
    >>> raw = {"chars": ["<pad>", "<unk>", "a"], "trans": [[0, 0], [0, 0]], "start": [0, 0],
    ...        "end": [0, 0], "max_chars": 16, "lowercase": True, "streaming": False}
    >>> TagInfo.of(SimpleNamespace(provenance={"tagger": raw}, labels=("O", "B-X"))).char_index
    {'a': 2}
    """

    chars: tuple[str, ...]  # char id -> character (0 padding, 1 <unk>)
    trans: np.ndarray  # (K, K) transition scores, from -> to (forbidden moves very negative)
    start: np.ndarray  # (K,) scores of the first tag
    end: np.ndarray  # (K,) scores of the last tag
    max_chars: int  # characters per word the graph reads
    lowercase: bool  # words are looked up lower-cased
    streaming: bool  # a forward LSTM stepped one token at a time (fixed-lag decoding)

    @classmethod
    def of(cls, signature: Any) -> TagInfo:
        raw = signature.provenance.get("tagger")
        n = len(signature.labels)
        try:
            info = cls(
                chars=tuple(raw["chars"]),
                trans=np.asarray(raw["trans"], dtype=np.float64).reshape(n, n),
                start=np.asarray(raw["start"], dtype=np.float64).reshape(n),
                end=np.asarray(raw["end"], dtype=np.float64).reshape(n),
                max_chars=int(raw["max_chars"]),
                lowercase=bool(raw["lowercase"]),
                streaming=bool(raw["streaming"]),
            )
        except (TypeError, KeyError, ValueError) as e:
            raise SignatureError(
                f"the tag model's signature lacks its CRF scores or vocabulary ({e!r}); "
                "re-export it with `edgernn export`"
            ) from None
        return info

    @cached_property
    def char_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars) if i > UNK}


@dataclass
class Tagged:
    """One tagged sentence.

    >>> Tagged(["Visit", "Oslo"], ["O", "B-LOC"]).to_dict()["entities"]
    [{'text': 'Oslo', 'type': 'LOC', 'start': 1, 'end': 2}]
    """

    tokens: list[str]  # the words
    tags: list[str]  # one IOB2 tag per word
    text: str | None = None  # the text it was cut from, when there was one
    offsets: list[tuple[int, int]] = field(default_factory=list)  # each word's chars in text

    @property
    def entities(self) -> list[dict[str, Any]]:
        """``{"text", "type", "start", "end"}`` per entity (token indices, end exclusive), plus
        ``char_start`` / ``char_end`` in ``text`` when it came from text."""
        out = []
        for s, e, kind in spans(self.tags):
            if self.text is not None and self.offsets:
                a, b = self.offsets[s][0], self.offsets[e - 1][1]
                ent = {"text": self.text[a:b], "type": kind, "start": s, "end": e}
                out.append({**ent, "char_start": a, "char_end": b})
            else:
                out.append({"text": " ".join(self.tokens[s:e]), "type": kind, "start": s, "end": e})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "tags": self.tags, "entities": self.entities}

    def inline(self) -> str:
        """The sentence with each entity bracketed: ``[Angela Merkel]PER visited [Paris]LOC``."""
        words = list(self.tokens)
        for s, e, kind in reversed(spans(self.tags)):
            words[s:e] = [f"[{' '.join(words[s:e])}]{kind}"]
        return " ".join(words)


class Tagger:
    """Tags sentences with a ``tag`` model. ``lag``: a streaming model's fixed lag (each tag is
    final ``lag`` tokens after its token; 0 decides at once); a bidirectional model ignores it."""

    def __init__(self, model: LoadedModel, lag: int = 2):
        sig = model.signature
        if sig.task != "tag":
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; `edgernn tag` needs a 'tag' model "
                "from `edgernn train tag` (`edgernn inspect` says which command runs this one)"
            )
        if sig.tokenizer is None or len(sig.inputs) < 2:
            raise SignatureError(
                f"{model.path.name}: a tag model's signature needs its word vocabulary and two "
                "inputs (words, chars); re-export it"
            )
        self.model, self.info, self.lag = model, TagInfo.of(sig), lag
        self.labels = sig.labels
        self.window = int(sig.window) or 10**9  # most tokens per graph call (bidirectional)
        vocab = sig.tokenizer.vocab
        self._words = {w: i for i, w in enumerate(vocab) if i > UNK}
        self._names = (sig.inputs[0].name, sig.inputs[1].name, sig.output_name)
        self._states = sig.states
        if self.info.streaming:
            FixedLagViterbi(self.info.trans, self.info.start, self.info.end, lag)  # checks lag

    @property
    def streaming(self) -> bool:
        """True for a forward-only tagger (tags tokens as they arrive, ``stream()``)."""
        return self.info.streaming

    # ---- encoding ----------------------------------------------------------------------------
    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(T,) word ids and (T, L) char ids of one sentence."""
        low = self.info.lowercase
        words = np.array(
            [self._words.get(w.lower() if low else w, UNK) for w in tokens], dtype=np.int64
        )
        chars = np.array(
            [char_ids(w, self.info.char_index, self.info.max_chars) for w in tokens],
            dtype=np.int64,
        ).reshape(len(tokens), self.info.max_chars)
        return words, chars

    def emissions(self, batch: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, T, K) emissions of sentences of one length T (at most the window), one call."""
        encoded = [self.encode(s) for s in batch]
        words = np.stack([w for w, _ in encoded])  # (B, T)
        chars = np.stack([c for _, c in encoded])  # (B, T, L)
        feeds: dict[str, np.ndarray] = {self._names[0]: words, self._names[1]: chars}
        feeds.update({s.input: s.zeros(len(batch)) for s in self._states})
        out = self.model.session.run([self._names[2]], feeds, self.model.run_options)
        return np.asarray(out[0], dtype=np.float64)

    def sentence_emissions(self, tokens: Sequence[str]) -> np.ndarray:
        """(T, K) emissions of one sentence of any length: a long one in overlapping windows."""
        n, w = len(tokens), self.window
        if n <= w:
            one: np.ndarray = self.emissions([tokens])[0]  # (T, K)
            return one
        stride = max(1, w // 2)
        starts = list(range(0, n - w, stride)) + [n - w]
        out = np.zeros((n, len(self.labels)))  # (T, K)
        depth = np.full(n, -1)  # how far each token sits from its window's nearer edge
        for s in starts:
            emit = self.emissions([tokens[s : s + w]])[0]  # (W, K)
            pos = np.arange(w)
            d = np.minimum(pos, w - 1 - pos)
            d[0] = w if s == 0 else d[0]  # a sentence edge is no window edge
            d[-1] = w if s + w == n else d[-1]
            better = d > depth[s : s + w]
            out[s : s + w][better] = emit[better]
            depth[s : s + w] = np.maximum(depth[s : s + w], d)
        return out

    # ---- tagging -----------------------------------------------------------------------------
    def decode(self, emissions: np.ndarray) -> list[str]:
        """IOB2 tags of one sentence's (T, K) emissions (Viterbi, whole sentence)."""
        i = self.info
        return [self.labels[k] for k in viterbi(emissions, i.trans, i.start, i.end)]

    def tag(self, tokens: Sequence[str]) -> list[str]:
        """One IOB2 tag per token ([] for no token)."""
        return self.tag_many([tokens])[0]

    def tag_many(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tags of many sentences; sentences of equal length run in one graph call (no padding,
        so the same tags as one at a time). A streaming model's graph is causal, so its
        emissions over a whole sentence are the ones stepping gives; its tags are the fixed-lag
        decoder's, as ``stream()`` gives them."""
        out: list[list[str]] = [[] for _ in sentences]
        by_len: dict[int, list[int]] = {}
        for n, s in enumerate(sentences):
            if 0 < len(s) <= self.window or (s and self.streaming):
                by_len.setdefault(len(s), []).append(n)
            elif s:
                out[n] = self.decode(self.sentence_emissions(s))
        for ids in by_len.values():
            for lo in range(0, len(ids), 256):
                chunk = ids[lo : lo + 256]
                emit = self.emissions([sentences[n] for n in chunk])  # (B, T, K)
                for n, e in zip(chunk, emit):
                    out[n] = self.decode_lagged(e) if self.streaming else self.decode(e)
        return out

    def decode_lagged(self, emissions: np.ndarray) -> list[str]:
        """IOB2 tags of one sentence's (T, K) emissions by fixed-lag Viterbi at ``lag``."""
        i = self.info
        dec = FixedLagViterbi(i.trans, i.start, i.end, self.lag)
        ids = [k for e in emissions for k in dec.push(e)] + dec.flush()
        return [self.labels[k] for k in ids]

    def tag_text(self, text: str) -> Tagged:
        """``text`` tokenized (``tokenize``) and tagged, with character offsets."""
        found = token_offsets(text)
        tokens = [t for t, _, _ in found]
        return Tagged(tokens, self.tag(tokens), text, [(a, b) for _, a, b in found])

    def tag_texts(self, texts: Iterable[str]) -> list[Tagged]:
        """``tag_text`` of each text, batched."""
        texts = list(texts)
        found = [token_offsets(t) for t in texts]
        tags = self.tag_many([[t for t, _, _ in f] for f in found])
        return [
            Tagged([t for t, _, _ in f], g, text, [(a, b) for _, a, b in f])
            for f, g, text in zip(found, tags, texts)
        ]

    def stream(self) -> TagStream:
        """A fresh token-by-token tagger (streaming models)."""
        if not self.streaming:
            raise UsageError(
                f"{self.model.path.name} is bidirectional: it tags whole sentences; train with "
                "--streaming for a model that tags tokens as they arrive"
            )
        return TagStream(self)


class TagStream:
    """Tokens of one sentence, arriving one at a time, through a streaming tagger: ``push``
    returns the ``(index, tag)`` pairs made final (the token ``lag`` back), ``flush`` the rest."""

    def __init__(self, tagger: Tagger):
        self.tagger = tagger
        i = tagger.info
        self._lag = FixedLagViterbi(i.trans, i.start, i.end, tagger.lag)
        self._state = [s.zeros(1) for s in tagger._states]
        self._given = 0  # tags given so far
        self._seen = 0  # tokens pushed so far
        names = tagger._names
        self._fetch = [names[2], *(s.output for s in tagger._states)]
        self._state_in = [s.input for s in tagger._states]

    def push(self, token: str) -> list[tuple[int, str]]:
        """One more token; the (index, tag) pairs this makes final."""
        t = self.tagger
        words, chars = t.encode([token])
        feeds = {t._names[0]: words[None], t._names[1]: chars[None]}
        feeds.update(zip(self._state_in, self._state))
        emit, *self._state = t.model.session.run(self._fetch, feeds, t.model.run_options)
        self._seen += 1
        return self._named(self._lag.push(np.asarray(emit, dtype=np.float64)[0, 0]))

    def flush(self) -> list[tuple[int, str]]:
        """End the sentence: the remaining (index, tag) pairs; the stream starts afresh."""
        done = self._named(self._lag.flush())
        self._state = [s.zeros(1) for s in self.tagger._states]
        self._given = self._seen = 0
        return done

    def _named(self, tags: list[int]) -> list[tuple[int, str]]:
        out = [(self._given + n, self.tagger.labels[k]) for n, k in enumerate(tags)]
        self._given += len(tags)
        return out
