"""The task registry: every kind of model the runtime runs, one entry each.

A signature names its task; this table says what runs it, which command a user types for it,
and what its graph puts out. Commands, ``bench`` and ``inspect`` read it instead of branching
on task names, so a new task is one entry here (plus its name in ``edgernn.signature.TASKS``,
the list the signature format accepts) and one on the training side
(``edgernn.train.registry``).

>>> task_of("generate").command
'edgernn generate'
>>> sorted(TASKS) == sorted(("forecast", "classify", "generate", "seq2seq", "tag", "music"))
True
"""

from __future__ import annotations

from dataclasses import dataclass

from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.signature import Signature
from edgernn.tasks.classify import ClassifierStream
from edgernn.tasks.generate import Generator
from edgernn.tasks.music import MusicGenerator
from edgernn.tasks.seq2seq import Seq2Seq
from edgernn.tasks.tag import Tagger


@dataclass(frozen=True)
class Task:
    """What the runtime knows about one task."""

    name: str  # the signature's task
    runs_with: str  # the Python API that runs it, as a user calls it
    command: str  # the CLI command that runs it, as a user types it
    outputs: str  # what the graph's main output is, for people
    wrapper: type | None = None  # the class over a Model that runs it (None: Model.stream/pool)
    # what the dense head's outputs are: "targets", "labels", "vocab" or "tags" (labels per token)
    head: str = "targets"
    pooled: bool = False  # keyed streams run in a Pool (forecasters that step)

    def head_width(self, sig: Signature) -> int:
        """How many outputs the graph's dense head has for ``sig``."""
        if self.head in ("labels", "tags") and sig.labels:
            return len(sig.labels)
        if self.head == "vocab" and sig.tokenizer is not None:
            return len(sig.tokenizer.vocab)
        return len(sig.targets)

    def describe_outputs(self, sig: Signature) -> str:
        """The main output in a person's words, with its size."""
        if self.head == "labels":
            return f"{len(sig.labels)} class probabilities"
        if self.head == "tags":
            return f"{len(sig.labels)} tag scores per token"
        return ", ".join(sig.targets) if self.head == "targets" else self.outputs

    def wrap(self, model: Model) -> object:
        """The task's runner over ``model`` (a forecaster's is a fresh ``Stream``)."""
        return model.stream() if self.wrapper is None else self.wrapper(model)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "forecast",
            "Model.stream() / Model.pool()",
            "edgernn stream",
            "the next step's forecast of the targets",
            pooled=True,
        ),
        Task(
            "classify",
            "ClassifierStream",
            "edgernn classify",
            "class logits after every step",
            ClassifierStream,
            head="labels",
        ),
        Task(
            "generate",
            "Generator",
            "edgernn generate",
            "next-token logits",
            Generator,
            head="vocab",
        ),
        Task(
            "seq2seq",
            "Seq2Seq",
            "edgernn generate MODEL --input TEXT",
            "next-token logits (decoder step)",
            Seq2Seq,
            head="vocab",
        ),
        Task(
            "tag",
            "Tagger",
            "edgernn tag",
            "entity tag scores (CRF emissions) per token",
            Tagger,
            head="tags",
        ),
        Task(
            "music",
            "MusicGenerator",
            "edgernn generate MODEL --midi OUT.mid",
            "next-event logits",
            MusicGenerator,
            head="vocab",
        ),
    )
}


def task_of(name_or_signature: str | Signature) -> Task:
    """The registry entry of a task name or of a model's signature."""
    name = getattr(name_or_signature, "task", name_or_signature)
    try:
        return TASKS[str(name)]
    except KeyError:
        known = ", ".join(TASKS)
        raise UsageError(f"no task {name!r} in this edgernn (it runs {known})") from None


def require(model: Model, task: str, what: str) -> None:
    """UsageError naming the command to use when ``model`` is not a ``task`` model."""
    have = model.signature.task
    if have != task:
        raise UsageError(
            f"{what} runs {task} models; {model.path.name} is a {have!r} model: "
            f"use {task_of(have).command}"
        )
