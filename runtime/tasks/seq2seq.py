"""Encoder-decoder decoding with a loaded ``seq2seq`` model: torch-free, numpy + ONNX Runtime.

The model file is the decoder *step* graph (tokens (B, T) + (h, c) -> logits (B, T, V) + (h, c));
its signature names the encoder graph next to it (``signature.seq2seq.partner``, e.g.
``model.encoder.onnx``: tokens (B, T) + zero (h, c) -> final (h, c)). Decoding starts from the
encoder's final state with ``<s>`` and stops at ``</s>`` or ``max_len`` tokens.

Greedy takes the most likely token each step. Beam search keeps the ``beam_size`` best partial
outputs, all decoded in one graph call per step (beams stacked on the batch axis), and returns
the finished output with the best length-normalised log-probability (sum of log-probs, ``</s>``
included, divided by the number of tokens scored). With ``beam_size=1`` it is greedy.

>>> log_softmax(np.array([[0.0, 0.0]])).round(4).tolist()
[[-0.6931, -0.6931]]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.core.buffers import StepBuffers
from edgernn.core.model import Model
from edgernn.errors import ModelError, UsageError


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Along the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    out: np.ndarray = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return out


@dataclass
class Hypothesis:
    """One decoded output: its token ids (without <s> / </s>), total log-probability, and whether it
    ended with </s>.
    """

    tokens: list[int]
    logprob: float
    finished: bool
    text: str = ""

    @property
    def score(self) -> float:
        """Length-normalised log-probability: per scored token (</s> counts when finished)."""
        return self.logprob / max(1, len(self.tokens) + int(self.finished))


@dataclass
class Stats:
    decoder_calls: int = 0
    unknown_chars: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def check_decode_options(max_len: int, beam_size: int = 1) -> None:
    if max_len < 1:
        raise UsageError(
            f"--max-tokens must be >= 1 for a seq2seq model, got {max_len}; e.g. --max-tokens 100"
        )
    if beam_size < 1:
        raise UsageError(f"--beam must be >= 1, got {beam_size}; e.g. --beam 4 (1 = greedy)")


class Seq2Seq:
    """Greedy and beam-search decoding over one exported seq2seq model (decoder + its encoder)."""

    def __init__(self, model: Model):
        sig = model.signature
        if sig.task != "seq2seq" or sig.tokenizer is None:
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; seq2seq decoding needs a 'seq2seq' "
                "model "
                "(from `edgernn train seq2seq`)"
            )
        info = sig.seq2seq
        if info is None or info.role != "decoder" or not info.partner:
            role = info.role if info is not None else "unknown"
            partner = info.partner if info is not None and info.partner else "model.onnx"
            raise UsageError(
                f"{model.path.name} is the {role} graph of a seq2seq model; pass the decoder "
                f"model file (the one named in its signature, e.g. {partner})"
            )
        path = model.path.parent / info.partner
        try:
            self.encoder = Model(path, model.config)
        except ModelError as e:
            raise ModelError(
                f"{model.path.name} needs its encoder graph {str(path)!r} next to it: {e}"
            ) from e
        enc = self.encoder.signature.seq2seq
        if enc is None or enc.role != "encoder":
            raise ModelError(
                f"{str(path)!r} is not a seq2seq encoder graph; re-export with `edgernn train "
                "seq2seq`"
            )
        self.model, self.tokenizer = model, sig.tokenizer
        special = info.special
        ids = {t: i for i, t in enumerate(sig.tokenizer.vocab)}
        self.unk_id = ids[sig.tokenizer.unk]
        self.bos_id, self.eos_id = ids[special.get("bos", "<s>")], ids[special.get("eos", "</s>")]
        self.stats = Stats()
        self._step_buffers: StepBuffers | None = None

    # ---- pieces --------------------------------------------------------------------------
    def encode(self, text: str) -> list[np.ndarray]:
        """The encoder's final states for one line (each (1, 1, H))."""
        if not text:
            raise UsageError("--input is empty; give the line to decode, e.g. --input '12345'")
        ids = np.array([self.tokenizer.encode(text)], dtype=np.int64)  # (1, T)
        self.stats.unknown_chars += int(np.count_nonzero(ids == self.unk_id))
        _, states = self.encoder.run(ids, self.encoder.initial_state(1))
        return states

    def _buffers(self) -> StepBuffers:
        """The decoder's pre-bound one-step buffers (``Model.step_buffers``), made on first use."""
        if self._step_buffers is None:
            self._step_buffers = self.model.step_buffers(1)  # x (1, 1) int64, y (1, 1, V)
        return self._step_buffers

    def _step(
        self, tokens: np.ndarray, states: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens (K,) -> (log-probs (K, V) float64, new states)."""
        logits, states = self.model.run(tokens.astype(np.int64)[:, None], states)
        self.stats.decoder_calls += 1
        return log_softmax(logits[:, -1]), states

    def _text(self, h: Hypothesis) -> Hypothesis:
        h.text = (
            "".join("\ufffd" if t == self.unk_id else self.tokenizer.vocab[t] for t in h.tokens)
            if self.tokenizer.kind == "char"
            else self.tokenizer.decode(h.tokens)
        )
        return h

    # ---- decoding ------------------------------------------------------------------------
    def greedy_hypothesis(self, text: str, max_len: int = 100) -> Hypothesis:
        check_decode_options(max_len)
        start, self.stats = time.perf_counter(), Stats()
        buffers = self._buffers()
        buffers.load(self.encode(text))  # the decoder starts from the encoder's final state
        token, tokens, logprob, finished = self.bos_id, [], 0.0, False
        for _ in range(max_len):
            # one token through the pre-bound buffers: no feeds, no allocation
            buffers.x[0, 0] = token
            logp = log_softmax(buffers.run()[0, 0])  # (V,)
            self.stats.decoder_calls += 1
            token = int(np.argmax(logp))
            logprob += float(logp[token])
            if token == self.eos_id:
                finished = True
                break
            tokens.append(token)
        self.stats.seconds = time.perf_counter() - start
        return self._text(Hypothesis(tokens, logprob, finished))

    def beam_hypotheses(
        self, text: str, beam_size: int = 4, max_len: int = 100
    ) -> list[Hypothesis]:
        """Every hypothesis kept at the end, best length-normalised score first."""
        check_decode_options(max_len, beam_size)
        start, self.stats = time.perf_counter(), Stats()
        enc = self.encode(text)
        alive = [Hypothesis([], 0.0, False)]
        states = enc  # batch axis 1, one row per alive beam
        last = np.array([self.bos_id])
        done: list[Hypothesis] = []
        for _ in range(max_len):
            logp, new_states = self._step(last, states)  # (K, V)
            total = np.array([h.logprob for h in alive])[:, None] + logp  # (K, V)
            order = np.argsort(-total, axis=None, kind="stable")[:beam_size]
            keep_rows, keep_tokens, next_alive = [], [], []
            for flat in order:
                row, token = divmod(int(flat), total.shape[1])
                h = alive[row]
                if token == self.eos_id:
                    done.append(Hypothesis(list(h.tokens), float(total[row, token]), True))
                else:
                    next_alive.append(
                        Hypothesis(h.tokens + [token], float(total[row, token]), False)
                    )
                    keep_rows.append(row)
                    keep_tokens.append(token)
            alive = next_alive
            if not alive or len(done) >= beam_size:
                break
            rows = np.array(keep_rows)
            states = [np.ascontiguousarray(s[:, rows]) for s in new_states]
            last = np.array(keep_tokens)
        hyps = done + alive  # unfinished ones only when max_len was reached first
        hyps.sort(key=lambda h: (-h.score, len(h.tokens)))
        self.stats.seconds = time.perf_counter() - start
        return [self._text(h) for h in hyps]

    def beam_hypothesis(self, text: str, beam_size: int = 4, max_len: int = 100) -> Hypothesis:
        return self.beam_hypotheses(text, beam_size, max_len)[0]

    def greedy(self, text: str, max_len: int = 100) -> str:
        """The greedy decoding of one line."""
        return self.greedy_hypothesis(text, max_len).text

    def beam(self, text: str, beam_size: int = 4, max_len: int = 100) -> str:
        """The beam-search decoding of one line (best length-normalised log-probability)."""
        return self.beam_hypothesis(text, beam_size, max_len).text

    def logprob(self, text: str, output: str) -> float:
        """log P(output + </s> | text) under the model (teacher-forced, one decoder call)."""
        states = self.encode(text)
        ids = [self.bos_id, *self.tokenizer.encode(output)]
        targets = ids[1:] + [self.eos_id]
        logits, _ = self.model.run(np.array([ids], dtype=np.int64), states)
        logp = log_softmax(logits[0])
        return float(sum(logp[i, t] for i, t in enumerate(targets)))
