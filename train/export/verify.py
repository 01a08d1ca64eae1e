"""Verify an exported model against its checkpoint: PyTorch <-> ONNX Runtime <-> reference.

``edgernn verify MODEL --checkpoint CKPT`` works for every task: forecasters, the char LM
(``generate``), classifiers (sensor or text) and seq2seq models (the decoder step graph and the
encoder graph named in its signature). It

- checks the checkpoint is of the kind the model's task was trained as (a char LM checkpoint
  cannot verify a classifier: a single failing ``checkpoint kind`` check, and nothing else);
- then runs the task's verifier (``edgernn.train.registry``): the runtime's state-contract
  checks (``edgernn.checks``) on every graph, that the signature describes the checkpoint
  (architecture, layers, inputs, tokenizer, classes, scalers: whatever the task records), and
  three-way parity on random sequences stepped one step at a time (``steps`` >= 50 by
  default) at batch 1 and 4 (``edgernn.train.export.checks``). A seq2seq decoder is stepped on
  teacher-forced random tokens from the PyTorch encoder's final state on a random source line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edgernn.checks import Check, VerifyReport
from edgernn.core.model import Model
from edgernn.errors import DataError, UsageError
from edgernn.train.checkpoint import Checkpoint, checkpoint_kind
from edgernn.train.export.checks import VerifyOptions
from edgernn.train.registry import TASKS, Task, load_checkpoint

KIND_CHECK = "checkpoint kind"  # the check that fails when the checkpoint is of another kind


def verify_checkpoint(
    model: Model,
    checkpoint: str | Path | Checkpoint,
    *,
    steps: int = 50,
    batches: Sequence[int] = (1, 4),
    tolerance: float | None = None,
    seed: int = 0,
    contract: bool = True,
) -> VerifyReport:
    """Every check of ``model`` against ``checkpoint`` (a path, or a loaded checkpoint of any
    kind); ``tolerance`` defaults to the export's. A seq2seq ``model`` is its decoder file (the
    encoder is found next to it). Raises ``DataError`` for a missing or unreadable checkpoint
    file."""
    where = str(checkpoint) if isinstance(checkpoint, (str, Path)) else None
    report = VerifyReport(str(model.path), checkpoint=where)
    task, actual = expected_task(model.signature.task), source_kind(checkpoint)
    if actual is not None and actual != task.kind:
        report.checks.append(kind_check(model, where, task.kind, actual))
        return report
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint, task.kind)
    options = VerifyOptions(steps, tuple(batches), tolerance, seed, contract)
    report.checks += task.verify(model, checkpoint, options)
    return report


def expected_task(name: str) -> Task:
    """The registered task a model of signature task ``name`` is exported from."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(
            f"verify --checkpoint knows the tasks {', '.join(TASKS)}; this model's task is "
            f"{name!r}: run verify without --checkpoint for its state contract"
        ) from None


def source_kind(checkpoint: str | Path | Checkpoint) -> str | None:
    """The kind a checkpoint declares; None for a file that is not a readable edgernn checkpoint
    (its loader then says why, with its own message and exit code)."""
    if isinstance(checkpoint, Checkpoint):
        return checkpoint.kind
    try:
        return checkpoint_kind(checkpoint)
    except DataError:  # missing, unreadable, not an edgernn checkpoint: the loader reports it
        return None


def kind_check(model: Model, where: str | None, expected: str, actual: str) -> Check:
    """A checkpoint of another kind cannot be compared at all: say which kinds, and what to
    pass."""
    name = Path(where).name if where else "the checkpoint"
    detail = (
        f"{name} is a {actual} checkpoint, but {model.path.name} is a "
        f"{model.signature.task!r} model: pass the {expected} checkpoint it was exported from "
        f"(`edgernn train {expected} --out DIR` writes DIR/checkpoint.pt next to DIR/model.onnx)"
    )
    return Check(KIND_CHECK, False, None, detail)
