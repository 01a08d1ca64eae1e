"""Text generation with a loaded ``generate`` model (a character LM): torch-free, streaming.

The prompt runs through the graph as one chunk; each sampled token is then fed back one
step at a time through pre-bound buffers (``Model.step_buffers``), and yielded as soon as
it is produced. Sampling is numpy with a seeded ``np.random.default_rng``:

>>> logits = np.array([1.0, 3.0, 2.0, -1.0])
>>> sample(logits, temperature=0.0)  # greedy
1
>>> sample(logits, 1.0, top_k=1, rng=np.random.default_rng(0))  # only the best survives
1
>>> sorted({sample(logits, 1.0, top_k=2, rng=np.random.default_rng(s)) for s in range(50)})
[1, 2]
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from edgernn.core.model import Model
from edgernn.errors import UsageError


def check_options(
    max_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
) -> None:
    """UsageError (one line, with the fix) for any option out of range."""
    if max_tokens < 0:
        raise UsageError(f"--max-tokens must be >= 0, got {max_tokens}; e.g. --max-tokens 200")
    if not temperature >= 0:  # also NaN
        raise UsageError(
            f"--temperature must be >= 0, got {temperature}; use 0 for greedy, 0.5-1.0 for varied "
            "text"
        )
    if top_k is not None and top_k < 1:
        raise UsageError(
            f"--top-k must be >= 1, got {top_k}; e.g. --top-k 40 (or leave it out for no limit)"
        )
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(
            f"--top-p must be in (0, 1], got {top_p}; e.g. --top-p 0.9 (or leave it out for no "
            "limit)"
        )


def check_prompt(prompt: str) -> None:
    if not prompt:
        raise UsageError("--prompt is empty; give at least one character, e.g. --prompt 'The '")


def sample(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
) -> int:
    """One token id from ``logits`` (V,): greedy at temperature 0, else softmax(logits / T)
    restricted to the ``top_k`` most likely ids, then to the smallest set whose probability
    reaches ``top_p`` (nucleus), renormalised and drawn with ``rng``."""
    check_options(temperature=temperature, top_k=top_k, top_p=top_p)
    logits = np.asarray(logits, dtype=np.float64).ravel()  # (V,)
    if temperature == 0:
        return int(np.argmax(logits))
    order = np.argsort(-logits, kind="stable")  # ids, most likely first
    if top_k is not None:
        order = order[:top_k]
    z = logits[order] / temperature
    p = np.exp(z - z.max())
    p /= p.sum()  # (K,) descending
    if top_p is not None:
        # smallest prefix reaching top_p
        keep = int(np.searchsorted(np.cumsum(p), top_p, side="left")) + 1
        p = p[:keep] / p[:keep].sum()
    rng = rng if rng is not None else np.random.default_rng()
    pick = int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"))
    return int(order[min(pick, len(p) - 1)])


@dataclass
class Stats:
    """What the last ``generate`` call did."""

    tokens: int = 0  # tokens generated
    unknown_chars: int = 0  # prompt characters outside the vocabulary (fed as <unk>)
    seconds: float = 0.0  # wall time, prompt included


class TokenSteps:
    """One token stream's state over a token model (text or note events): a chunk of ids run
    at once, or one id a step. ``Generator`` and ``MusicGenerator`` build on it."""

    def __init__(self, model: Model):
        self.model = model
        self.buffers = model.step_buffers(1)  # x (1, 1) int64, y (1, 1, V), state sets bound once

    def restart(self) -> None:
        """Back to the model's initial state."""
        self.buffers.load(self.model.initial_state(1))

    def run_ids(self, ids: np.ndarray) -> np.ndarray:
        """Run token ids (1, T) int64 as one chunk from the current state; the last logits (V,)."""
        logits, states = self.model.run(ids, self.buffers.states)  # (1, T, V)
        self.buffers.load(states)
        last: np.ndarray = logits[0, -1]
        return last

    def step(self, token: int) -> np.ndarray:
        """Feed one token id; the next-token logits (V,) (a view, overwritten by the next step)."""
        self.buffers.x[0, 0] = token
        out: np.ndarray = self.buffers.run()[0, 0]
        return out


class Generator(TokenSteps):
    """Stateful text generation over one ``generate`` model (one conversation at a time)."""

    def __init__(self, model: Model):
        sig = model.signature
        if sig.task != "generate" or sig.tokenizer is None:
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; `edgernn generate` needs a 'generate' "
                "model (e.g. the shipped char-lm.onnx, or one from `edgernn train charlm`)"
            )
        super().__init__(model)
        self.tokenizer = sig.tokenizer
        self.unk_id = sig.tokenizer.vocab.index(sig.tokenizer.unk)
        self.stats = Stats()

    def reset(self) -> None:
        """Back to a fresh state (no context)."""
        self.restart()
        self.stats = Stats()

    def encode(self, text: str) -> np.ndarray:
        """Token ids (1, T) int64; characters outside the vocabulary become <unk> (counted)."""
        ids = np.array([self.tokenizer.encode(text)], dtype=np.int64)  # (1, T)
        self.stats.unknown_chars += int(np.count_nonzero(ids == self.unk_id))
        return ids

    def feed(self, text: str) -> np.ndarray:
        """Run ``text`` as one chunk from the current state; the next-token logits (V,)."""
        ids = self.encode(text)
        check_prompt(text)
        return self.run_ids(ids)

    def generate(
        self,
        prompt: str,
        max_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
    ) -> Iterator[str]:
        """Each generated character, as produced, continuing ``prompt`` from a fresh state.

        Options are checked now (before the first character); ``seed`` makes it reproducible.
        A sampled <unk> is yielded as U+FFFD. ``self.stats`` counts tokens and unknown characters.
        """
        check_options(max_tokens, temperature, top_k, top_p)
        check_prompt(prompt)
        return self._run(prompt, max_tokens, temperature, top_k, top_p, np.random.default_rng(seed))

    def _run(
        self,
        prompt: str,
        max_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        rng: np.random.Generator,
    ) -> Iterator[str]:
        start = time.perf_counter()
        self.reset()
        logits = self.feed(prompt)
        for i in range(max_tokens):
            token = sample(logits, temperature, top_k, top_p, rng)
            self.stats.tokens += 1
            self.stats.seconds = time.perf_counter() - start
            yield self.tokenizer.vocab[token] if token != self.unk_id else "\ufffd"
            if i + 1 < max_tokens:
                logits = self.step(token)  # the token just produced is the next input
        self.stats.seconds = time.perf_counter() - start
