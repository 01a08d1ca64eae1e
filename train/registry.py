"""Every task the training side knows, one entry each: THE dispatch of ``edgernn.train``.

An entry says how a task's checkpoint is rebuilt, exported and verified, and which function is
its ``edgernn train`` command. Adding a task is one entry here (and its package beside
``forecast``, ``classify``, ``charlm``, ``seq2seq``), not a branch in every command.

Entries are keyed by the task as the runtime's signature names it. The text generator's task is
"generate", but its checkpoint kind and train command keep the older name "charlm" (the kind
is written into every char LM checkpoint, so it stays readable): ``by_kind`` maps it back.

>>> list(TASKS)
['forecast', 'generate', 'classify', 'seq2seq', 'tag', 'music']
>>> by_kind("charlm").name, TASKS["generate"].kind
('generate', 'charlm')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.errors import DataError, UsageError
from edgernn.signature import Signature
from edgernn.train.charlm import export as charlm
from edgernn.train.charlm.train import run_charlm
from edgernn.train.checkpoint import FORECAST, Builder, Checkpoint, checkpoint_kind, load
from edgernn.train.classify import export as classify
from edgernn.train.classify.train import run_classify
from edgernn.train.export.checks import VerifyOptions
from edgernn.train.export.config import ExportConfig
from edgernn.train.forecast import export as forecast
from edgernn.train.forecast.train import run_forecast
from edgernn.train.forecast.verify import verify_forecaster
from edgernn.train.music import export as music
from edgernn.train.music.train import run_music
from edgernn.train.seq2seq import export as seq2seq
from edgernn.train.seq2seq.train import run_seq2seq
from edgernn.train.tag import export as tag
from edgernn.train.tag.train import run_tag


@dataclass(frozen=True)
class Task:
    """One task of the training side."""

    name: str  # the signature's task: forecast, generate, classify, seq2seq
    kind: str  # its checkpoint kind, which is also its `edgernn train` subcommand
    build: Builder  # the untrained module from a checkpoint's model_config
    # a loaded checkpoint -> its verified graph(s) at the path (the signature of the main one)
    export: Callable[[Checkpoint, Path, ExportConfig], Signature]
    # the exported model's checks against the loaded checkpoint
    verify: Callable[[Model, Checkpoint, VerifyOptions], list[Check]]
    run: Callable[..., dict]  # the `edgernn train KIND` command: trains, writes OUT, the report
    reduced: bool = False  # exports int8 / fp16 and to another --tolerance (forecasters)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            name=FORECAST,
            kind=FORECAST,
            build=forecast.build,
            export=forecast.export_model,
            verify=verify_forecaster,
            run=run_forecast,
            reduced=True,
        ),
        Task(
            name="generate",
            kind="charlm",  # the char LM's name before its task was called generate
            build=charlm.build,
            export=charlm.export_checkpoint,
            verify=charlm.verify_charlm,
            run=run_charlm,
        ),
        Task(
            name="classify",
            kind="classify",
            build=classify.build,
            export=classify.export_checkpoint,
            verify=classify.verify_classifier,
            run=run_classify,
        ),
        Task(
            name="seq2seq",
            kind="seq2seq",
            build=seq2seq.build,
            export=seq2seq.export_checkpoint,
            verify=seq2seq.verify_seq2seq,
            run=run_seq2seq,
        ),
        Task(
            name="tag",
            kind="tag",
            build=tag.build,
            export=tag.export_checkpoint,
            verify=tag.verify_tagger,
            run=run_tag,
        ),
        Task(
            name="music",
            kind="music",
            build=music.build,
            export=music.export_checkpoint,
            verify=music.verify_music,
            run=run_music,
        ),
    )
}


def by_kind(kind: str) -> Task | None:
    """The task whose checkpoints are of ``kind``; None for a kind this edgernn does not know."""
    return next((t for t in TASKS.values() if t.kind == kind), None)


def load_checkpoint(path: str | Path, kind: str = FORECAST) -> Checkpoint:
    """Read a checkpoint of ``kind`` (a forecaster's by default), its module rebuilt in eval
    mode; a clear DataError for a missing or unreadable file or a checkpoint of another kind."""
    task = by_kind(kind)
    if task is None:
        raise DataError(
            f"{Path(path).name} is a {kind!r} checkpoint, which this edgernn cannot "
            "load; upgrade edgernn"
        )
    return load(path, kind, task.build)


def export_checkpoint(
    path: str | Path, out: str | Path, config: ExportConfig | None = None
) -> Signature:
    """Load ``path`` (a checkpoint.pt of any task) and export it to ``out`` through its task's
    exporter (graph names and tolerances of that task; a seq2seq model also writes its encoder
    next to ``out``); reduced precision and a custom tolerance are forecaster options."""
    config = config or ExportConfig()
    kind = checkpoint_kind(path)
    task = by_kind(kind)
    if task is None or not task.reduced:
        _float32_only(Path(path), kind, config)
    if task is None:
        raise DataError(
            f"{Path(path).name} is a {kind!r} checkpoint, which this edgernn cannot export; "
            "upgrade edgernn"
        )
    return task.export(load(path, kind, task.build), Path(out), config)


def _float32_only(path: Path, kind: str, config: ExportConfig) -> None:
    """UsageError for the forecaster options on another kind of checkpoint."""
    if config.reduction() is not None:
        raise UsageError(
            f"--quantize / --precision fp16 are supported for forecasters; {path.name} is a "
            f"{kind} checkpoint: export it in float32"
        )
    if config.tolerance != ExportConfig.tolerance:
        raise UsageError(
            f"--tolerance applies to forecasters; a {kind} export holds ONNX Runtime to its own "
            f"{ExportConfig.tolerance:g}: drop --tolerance"
        )
