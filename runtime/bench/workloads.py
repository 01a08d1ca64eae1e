"""What ``edgernn bench`` times for each kind of model: one workload per kind, from the signature.

A workload makes valid inputs (``edgernn.bench.inputs``: sensor rows in user units, scaled for
the graph; or token ids drawn from the tokenizer's vocabulary) and pairs each edgernn call with
a bare ``InferenceSession.run`` loop (``edgernn.bench.measure.bare_loop``) doing the same graph
work:

========  ==========================  ==========================  ==========================
kind      one step (single stream)    many streams, one tick      a chunk of T steps
========  ==========================  ==========================  ==========================
forecast  ``Stream.step``             ``Pool.step_batch``         ``Stream.steps``
                                                                  (T=1: ``step``)
window    ``WindowStream.step``       ``Model.run`` over B        does not apply (no state)
          (warmed up)                 windows
classify  ``ClassifierStream.step``   ``Model.run``, stacked      ``Model.run`` over (1, T)
                                      states
generate  ``Generator.step``          ``Model.run``, stacked      ``Model.run`` over (1, T)
                                      states
seq2seq   decoder                     ``Model.run``, stacked      ``Model.run`` over (1, T),
          ``Model.step_buffers``      encoder states              teacher-forced
          from ``Seq2Seq.encode``'s
          state
========  ==========================  ==========================  ==========================

A window model is a non-causal forecaster (bidirectional): no state, one graph run over the
last W rows per step. Each workload also says how to time a fresh command's start-up.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any

import numpy as np

from edgernn.bench.inputs import SINGLE, Feeds, jsonl_records, sample_text, token_ids
from edgernn.bench.measure import Launch, Step, bare_loop, edgernn_batch, sample_rows
from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.signature import Signature
from edgernn.tasks.classify import ClassifierStream
from edgernn.tasks.generate import Generator
from edgernn.tasks.music import MusicGenerator
from edgernn.tasks.seq2seq import Seq2Seq

Pair = dict[str, Step]  # {"edgernn": ..., "bare_ort": ...}: the same graph work, timed side by side
BARE = "InferenceSession.run with numpy feeds, inputs already in model units, state carried"
NO_POOL = "Model.run over stacked states, (B, 1) inputs; no pool for this task"


def kind(sig: Signature) -> str:
    """forecast, window (a non-causal forecaster), classify, generate, seq2seq or music."""
    return "window" if sig.task == "forecast" and not sig.causal else sig.task


def chunks_apply(sig: Signature) -> bool:
    return kind(sig) != "window"


def describe(sig: Signature) -> dict[str, str]:
    """{task, mode, input, outputs} of the model, for the result's ``model``."""
    tok = sig.tokenizer
    inputs = (
        f"token ids ({tok.kind}, {len(tok.vocab)} tokens)"
        if tok
        else f"sensor rows ({len(sig.features)} features)"
    )
    outputs = (
        f"{len(sig.labels)} labels"
        if sig.task == "classify"
        else f"{len(tok.vocab)} logits"
        if tok
        else f"{len(sig.targets)} target(s)"
    )
    return {
        "task": sig.task,
        "mode": "step" if sig.causal else f"window of {sig.window}",
        "input": inputs,
        "outputs": outputs,
    }


def workload_for(model: Model, session: Any, seed: int = 0) -> Workload:
    """The workload of ``model``'s kind; ``session`` is the bare loop's own session."""
    works: dict[str, type[Workload]] = {
        "forecast": Forecast,
        "window": Window,
        "classify": Classify,
        "generate": Generate,
        "seq2seq": Seq2SeqDecode,
        "music": Music,
    }
    if kind(model.signature) not in works:
        raise UsageError(
            f"`edgernn bench` has no workload for {model.signature.task!r} models yet; time it "
            "with its own command (`edgernn tag` prints sentences/s)"
        )
    return works[kind(model.signature)](model, session, seed)


def run_loop(model: Model, feeds: Feeds, users: list[np.ndarray], states: list[np.ndarray]) -> Step:
    """``Model.run`` on user inputs (scaled as the task's API scales them), the state carried."""

    def step(i: int) -> None:
        nonlocal states
        _, states = model.run(feeds.graph(users[i % len(users)]), states)

    return step


# ---- the workloads -------------------------------------------------------------------------------
class Workload:
    """One kind of model: ``single``, ``batch`` and ``chunk`` give edgernn/bare pairs;
    ``launch`` the start-up command (or why there is none). ``api`` says which edgernn calls
    are timed."""

    chunk_skip: str | None = None  # why chunks do not apply, when they do not

    def __init__(self, model: Model, session: Any, seed: int = 0):
        self.model, self.session, self.sig = model, session, model.signature
        self.feeds = Feeds(self.sig, seed)

    def api(self) -> dict[str, str | None]:
        """{single_stream, bare_ort, streams, chunks}: the calls timed, in words (chunks None:
        does not apply)."""
        raise NotImplementedError

    def single(self) -> Pair:
        raise NotImplementedError

    def batch(self, b: int) -> Pair:
        raise NotImplementedError

    def chunk(self, t: int) -> tuple[Pair, str]:
        """The pair for ``t`` steps per call, and the edgernn call timed (T=1: the one-step
        API)."""
        raise NotImplementedError

    def launch(self) -> Launch | str:
        raise NotImplementedError

    def bare(
        self, graphs: list[np.ndarray], batch: int, init: list[np.ndarray] | None = None
    ) -> Step:
        return bare_loop(self.session, self.sig, graphs, batch, init)

    def option_args(self) -> list[str]:
        return ["--provider", self.model.provider]


class Forecast(Workload):
    """A causal forecaster: its stream, its pool, its chunks."""

    def api(self) -> dict[str, str | None]:
        return {
            "single_stream": "Stream.step",
            "bare_ort": BARE,
            "streams": "Stream pool",
            "chunks": "Stream.steps (Stream.step at T=1)",
        }

    def single(self) -> Pair:
        stream, (user, graph) = self.model.stream(), self.feeds.singles()
        return {
            "edgernn": lambda i: stream.step(user[i % len(user)]),
            "bare_ort": self.bare(graph, 1),
        }

    def batch(self, b: int) -> Pair:
        users, graphs = self.feeds.variants(b, 1)
        edge, _ = edgernn_batch(self.model, [u[:, 0] for u in users], b)
        return {"edgernn": edge, "bare_ort": self.bare(graphs, b)}

    def chunk(self, t: int) -> tuple[Pair, str]:
        stream, (users, graphs) = self.model.stream(), self.feeds.variants(1, t)
        if t == 1:  # what a one-step caller uses
            rows = [u[0, 0] for u in users]
            return {
                "edgernn": lambda i: stream.step(rows[i % len(rows)]),
                "bare_ort": self.bare(graphs, 1),
            }, "Stream.step"
        rows = [u[0] for u in users]  # (T, F) each
        return {
            "edgernn": lambda i: stream.steps(rows[i % len(rows)]),
            "bare_ort": self.bare(graphs, 1),
        }, "Stream.steps"

    def launch(self) -> Launch:
        args = ["stream", str(self.model.path), "--source", "-", "--quiet", *self.option_args()]
        args += ["--threads", str(self.model.config.intra_op_threads)]
        return Launch(
            args,
            jsonl_records(self.sig, 50, seed=99),
            1,
            "python -m edgernn stream MODEL --source - (JSONL records on stdin)",
            "first output line",
        )


class Window(Workload):
    """A non-causal (bidirectional) forecaster: every step re-runs the last W rows; no state."""

    chunk_skip = (
        "a window model re-reads its whole window every step and carries no state between calls"
    )

    def api(self) -> dict[str, str | None]:
        w = self.sig.window
        return {
            "single_stream": f"WindowStream.step (warmed up: one graph run over the last {w} rows)",
            "bare_ort": (
                f"InferenceSession.run over one (1, {w}, F) window in model units, no state"
            ),
            "streams": (
                f"Model.run over B windows of {w} rows, scaled both ways; no pool for window models"
            ),
            "chunks": None,
        }

    def single(self) -> Pair:
        live, rows = self.model.window_stream(), sample_rows(self.sig, SINGLE, self.feeds.seed)
        live.steps(rows[: live.window])  # warmed up: every timed step forecasts
        _, windows = self.feeds.variants(1, live.window)
        return {
            "edgernn": lambda i: live.step(rows[i % len(rows)]),
            "bare_ort": self.bare(windows, 1),
        }

    def batch(self, b: int) -> Pair:
        users, windows = self.feeds.variants(b, self.sig.window)
        sig, model = self.sig, self.model

        def step(i: int) -> None:  # B windows in user units -> B forecasts in user units
            y, _ = model.run(sig.input_scaler.transform(users[i % len(users)]), [])
            sig.target_scaler.inverse(y[:, -1])

        return {"edgernn": step, "bare_ort": self.bare(windows, b)}

    def launch(self) -> str:
        return (
            "no edgernn command runs a window model: `edgernn stream` steps causal models; "
            "use model.window_stream()"
        )


class Stateful(Workload):
    """classify, generate, seq2seq: a recurrent graph with no pool; many streams and chunks are
    ``Model.run`` calls over stacked states, the state carried from call to call."""

    def start(self, batch: int) -> list[np.ndarray]:
        """The state the streams start from."""
        return self.model.initial_state(batch)

    def step_api(self) -> Callable[[Any], Any]:
        """The task's one-step call, taking what ``Feeds.singles`` gives."""
        raise NotImplementedError

    def single(self) -> Pair:
        call, (user, graph) = self.step_api(), self.feeds.singles()
        return {
            "edgernn": lambda i: call(user[i % len(user)]),
            "bare_ort": self.bare(graph, 1, self.start(1)),
        }

    def batch(self, b: int) -> Pair:
        return self.runs(b, 1)

    def chunk(self, t: int) -> tuple[Pair, str]:
        if t == 1:
            return self.single(), self.api()["single_stream"] or ""
        return self.runs(1, t), "Model.run"

    def runs(self, batch: int, steps: int) -> Pair:
        users, graphs = self.feeds.variants(batch, steps)
        return {
            "edgernn": run_loop(self.model, self.feeds, users, self.start(batch)),
            "bare_ort": self.bare(graphs, batch, self.start(batch)),
        }


class Classify(Stateful):
    def api(self) -> dict[str, str | None]:
        what = "a token id" if self.feeds.tokens else "a row in user units"
        chunk = "(1, T) token ids" if self.feeds.tokens else "(1, T, F) rows, scaled"
        return {
            "single_stream": f"ClassifierStream.step ({what}; running probabilities)",
            "bare_ort": BARE,
            "streams": NO_POOL,
            "chunks": f"Model.run over {chunk} from the carried state, as "
            "ClassifierStream.classify_text runs a text (T=1: ClassifierStream.step)",
        }

    def step_api(self) -> Callable[[Any], Any]:
        return ClassifierStream(self.model).step

    def launch(self) -> Launch:
        path = str(self.model.path)
        if self.feeds.tokens:
            text = sample_text(self.sig, 20, seed=99)
            return Launch(
                ["classify", path, "--text", text, *self.option_args()],
                b"",
                1,
                f"python -m edgernn classify MODEL --text {shlex.quote(text)}",
                "output line",
            )
        return Launch(
            ["classify", path, "--source", "-", *self.option_args()],
            jsonl_records(self.sig, 50, seed=99),
            1,
            "python -m edgernn classify MODEL --source - (JSONL records on stdin)",
            "first output line",
        )


class Generate(Stateful):
    PROMPT = "The "

    def api(self) -> dict[str, str | None]:
        return {
            "single_stream": "Generator.step (a token id; next-token logits)",
            "bare_ort": BARE,
            "streams": NO_POOL,
            "chunks": "Model.run over (1, T) token ids from the carried state, as "
            "Generator.feed runs a prompt (T=1: Generator.step)",
        }

    def step_api(self) -> Callable[[Any], Any]:
        return Generator(self.model).step

    def launch(self) -> Launch:
        args = ["generate", str(self.model.path), "--prompt", self.PROMPT, "--max-tokens", "5"]
        # it echoes the prompt first: the byte after it is generated
        need = len(self.PROMPT.encode()) + 1
        return Launch(
            [*args, *self.option_args()],
            b"",
            need,
            f"python -m edgernn generate MODEL --prompt {self.PROMPT!r} --max-tokens 5",
            "first generated character (after the echoed prompt)",
        )


class Music(Generate):
    """A music model: the same graph work as a char LM (one event id in, next-event logits
    out); its command prints each event as it is drawn."""

    def api(self) -> dict[str, str | None]:
        return {
            **super().api(),
            "single_stream": "MusicGenerator.step (an event id; next-event logits)",
            "chunks": "Model.run over (1, T) event ids from the carried state, as "
            "MusicGenerator.feed runs a prompt (T=1: MusicGenerator.step)",
        }

    def step_api(self) -> Callable[[Any], Any]:
        return MusicGenerator(self.model).step

    def launch(self) -> Launch:
        args = ["generate", str(self.model.path), "--midi", os.devnull, "--events", "5"]
        return Launch(
            [*args, *self.option_args()],
            b"",
            1,
            "python -m edgernn generate MODEL --midi /dev/null --events 5",
            "first generated note's line",
        )


class Seq2SeqDecode(Stateful):
    """The decoder graph, one token per call, from the encoder's final state (the encoder runs
    untimed)."""

    def __init__(self, model: Model, session: Any, seed: int = 0):
        super().__init__(model, session, seed)
        self.s2s = Seq2Seq(model)  # loads the encoder graph named in the decoder's signature
        self.source_len = (self.sig.seq2seq and self.sig.seq2seq.max_source_len) or 10

    def api(self) -> dict[str, str | None]:
        return {
            "single_stream": "StepBuffers.run (the decoder's Model.step_buffers, one token from "
            "Seq2Seq.encode's state; Seq2Seq.greedy calls Model.run per token)",
            "bare_ort": BARE + ", from the same encoder state",
            "streams": (
                "Model.run over stacked encoder states, (B, 1) tokens; no pool for this task"
            ),
            "chunks": "Model.run over (1, T) tokens from an encoder state, teacher-forced as "
            "Seq2Seq.logprob runs (T=1: StepBuffers.run)",
        }

    def start(self, batch: int) -> list[np.ndarray]:
        """The encoder's final states for ``batch`` random source lines (one encoder run)."""
        ids = token_ids(self.sig, (batch, self.source_len), self.feeds.seed + 100)
        _, states = self.s2s.encoder.run(ids, self.s2s.encoder.initial_state(batch))
        return states

    def step_api(self) -> Callable[[Any], Any]:
        buffers = self.model.step_buffers(1)
        buffers.load(self.s2s.encode(sample_text(self.sig, self.source_len, self.feeds.seed + 100)))

        def step(token: int) -> np.ndarray:
            buffers.x[0, 0] = token
            return buffers.run()

        return step

    def launch(self) -> Launch:
        text = sample_text(self.sig, self.source_len, seed=99)
        args = ["generate", str(self.model.path), "--input", text, "--max-tokens", "5"]
        return Launch(
            [*args, *self.option_args()],
            b"",
            1,
            f"python -m edgernn generate MODEL --input {shlex.quote(text)} --max-tokens 5",
            "decoded line (greedy; printed when decoding ends)",
        )
