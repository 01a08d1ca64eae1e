"""Sequence classification with a loaded ``classify`` model: torch-free, one step at a time.

After every step (a sensor record, or a token of text) the stream holds the running class
probabilities of everything it has seen since its last ``reset``: the softmax of that step's
logits. Sensor values are scaled with the signature's ``input_scaler``; text is tokenized with
the signature's tokenizer, and tokens outside the vocabulary become ``<unk>`` (counted).

>>> softmax(np.array([0.0, np.log(3.0)])).round(3).tolist()
[0.25, 0.75]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.tokenizer import Tokenizer

_exp = math.exp


PYTHON_SOFTMAX = 32  # up to this many classes, a step's softmax runs in Python floats


# tokens per graph call in classify_text: a max-pooling classifier's graph holds (T, T, H)
# values for a chunk of T steps (edgernn.train.classify.peak)
CHUNK = 256


def softmax_floats(logits: Sequence[float]) -> list[float]:
    """``softmax`` of a few Python floats, without numpy calls (the per-step path).

    >>> [round(p, 3) for p in softmax_floats([0.0, math.log(3.0)])]
    [0.25, 0.75]
    """
    top = max(logits)
    e = [_exp(v - top) for v in logits]
    total = sum(e)
    return [v / total for v in e]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis (float64, stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    probs: np.ndarray = z / z.sum(axis=-1, keepdims=True)
    return probs


class ClassifierStream:
    """One sequence's running classification over a ``classify`` model (sensor or text)."""

    def __init__(self, model: Model):
        sig = model.signature
        if sig.task != "classify" or not sig.labels:
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; `edgernn classify` needs a 'classify' "
                "model (from `edgernn train classify`)"
            )
        self.model, self.labels, self.tokenizer = model, tuple(sig.labels), sig.tokenizer
        self.is_text = sig.tokenizer is not None
        self.unk_id = sig.tokenizer.id_of(sig.tokenizer.unk) if sig.tokenizer is not None else -1
        # x (1, 1) int64 or (1, 1, F) float32; logits (1, 1, C)
        self.buffers = model.step_buffers(1)
        # few classes: Python floats beat numpy calls
        self._python_softmax = len(self.labels) <= PYTHON_SOFTMAX
        self.steps_seen = 0
        self.unknown = 0  # tokens fed as <unk> since the last reset

    def reset(self) -> None:
        """Back to a fresh state: a new sequence starts."""
        self.buffers.load(self.model.initial_state(1))
        self.steps_seen = 0
        self.unknown = 0

    def probabilities(self, logits: np.ndarray) -> dict[str, float]:
        return dict(zip(self.labels, map(float, softmax(logits))))

    def step(self, value: str | int | Sequence[float] | np.ndarray) -> dict[str, float]:
        """Feed one step: a token (str, or an int id) for text, feature values (F,) in user units
        for sensors; the running probabilities, label -> p."""
        if self.tokenizer is not None:
            self._put_token(self.tokenizer, value)
        else:
            self._put_features(value)
        self.steps_seen += 1
        logits = self.buffers.run()
        if self._python_softmax:
            return dict(zip(self.labels, softmax_floats(self.buffers.y_mem.tolist())))
        return self.probabilities(logits[0, 0])

    def _put_token(self, tok: Tokenizer, value: object) -> None:
        if isinstance(value, str):
            ids = tok.encode(value) if tok.kind == "char" else [self._id(value)]
            if len(ids) != 1:
                raise UsageError(
                    f"step() takes one token, got {value!r}; use classify_text() for text"
                )
            value = ids[0]
        token = int(value)  # type: ignore[call-overload]
        if not 0 <= token < len(tok.vocab):
            raise UsageError(
                f"token id {token} is outside the vocabulary (0..{len(tok.vocab) - 1})"
            )
        self.unknown += token == self.unk_id
        self.buffers.x[0, 0] = token

    def _put_features(self, value: object) -> None:
        values = np.asarray(value, dtype=np.float32).reshape(-1)
        if values.shape[0] != self.buffers.x.shape[-1]:
            raise UsageError(
                f"step() takes {self.buffers.x.shape[-1]} feature values "
                f"({', '.join(self.model.signature.features)}), got {values.shape[0]}"
            )
        self.model.signature.input_scaler.transform(values, out=self.buffers.x[0, 0])

    def steps(self, values: Iterable[Any]) -> list[dict[str, float]]:
        """``step`` for each value in turn; the running probabilities after each."""
        return [self.step(v) for v in values]

    def _id(self, token: str) -> int:
        assert self.tokenizer is not None  # text models only
        return self.tokenizer.id_of(token, self.unk_id)

    def classify_text(self, text: str) -> tuple[list[tuple[str, dict[str, float]]], str]:
        """From a fresh state: (token, running probabilities) per token, and the final label.
        Tokens outside the vocabulary are fed as <unk> and counted in ``self.unknown``."""
        if self.tokenizer is None:
            raise UsageError(
                f"{self.model.path.name} classifies sensor records, not text; feed feature values "
                "to step()"
            )
        tokens = self.tokenizer.tokens(text)
        if not tokens:
            raise UsageError("the text is empty (no tokens); give at least one character or word")
        self.reset()
        ids = np.array([[self._id(t) for t in tokens]], dtype=np.int64)  # (1, T)
        self.unknown = int(np.count_nonzero(ids == self.unk_id))
        chunks, states = [], self.buffers.states
        for i in range(0, ids.shape[1], CHUNK):  # the state carries over: the same numbers
            logits, states = self.model.run(ids[:, i : i + CHUNK], states)  # (1, <= CHUNK, C)
            chunks.append(logits[0])
        self.buffers.load(states)
        self.steps_seen = len(tokens)
        probs = softmax(np.concatenate(chunks))  # (T, C)
        running = [(t, dict(zip(self.labels, map(float, p)))) for t, p in zip(tokens, probs)]
        return running, self.labels[int(probs[-1].argmax())]

    def classify_sequence(self, rows: Sequence[Any]) -> tuple[list[dict[str, float]], str]:
        """Sensor rows (T, F) in user units from a fresh state: running probabilities and the final
        label.
        """
        self.reset()
        running = self.steps(rows)
        if not running:
            raise UsageError("the sequence is empty; give at least one record")
        return running, top_label(running[-1])


def top_label(probabilities: dict[str, float]) -> str:
    """The most probable label."""
    return max(probabilities, key=probabilities.__getitem__)
