"""The task registry: every kind of model the runtime runs, one entry each.

A signature names its task; this table says what runs it, which command a user types for it,
and what its graph puts out. Commands, ``bench`` and ``inspect`` read it instead of branching
on task names, so a new task is one entry here (plus its name in ``edgernn.signature.TASKS``,
the list the signature format accepts) and one on the training side
(``edgernn.train.registry``).

>>> task_of("generate").command
'edgernn generate'
>>> sorted(TASKS) == sorted(("forecast", "classify", "generate", "seq2seq"))
True
"""

from __future__ import annotations

from dataclasses import dataclass

from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.signature import Signature
from edgernn.tasks.classify import ClassifierStream
from edgernn.tasks.generate import Generator
from edgernn.tasks.seq2seq import Seq2Seq


@dataclass(frozen=True)
class Task:
    """What the runtime knows about one task."""

    name: str  # the signature's task
    runs_with: str  # the Python API that runs it, as a user calls it
    command: str  # the CLI command that runs it, as a user types it
    outputs: str  # what the graph's main output is, for people
    wrapper: type | None = None  # the class over a Model that runs it (None: Model.stream/pool)

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
        ),
        Task(
            "classify",
            "ClassifierStream",
            "edgernn classify",
            "class logits after every step",
            ClassifierStream,
        ),
        Task(
            "generate",
            "Generator",
            "edgernn generate",
            "next-token logits",
            Generator,
        ),
        Task(
            "seq2seq",
            "Seq2Seq",
            "edgernn generate MODEL --input TEXT",
            "next-token logits (decoder step)",
            Seq2Seq,
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
