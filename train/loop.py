"""One trainer for every task: Adam, gradient-norm clipping and progress, in one of two modes.

- **epoch mode** (``train_epochs``; forecasters, classifiers): shuffled passes over the
  training examples. After each pass the task scores the model (``EpochTask.evaluate``); the
  weights of the best-scoring epoch are kept, training stops after ``patience`` epochs without
  a better score, and with ``lr_patience`` the learning rate halves after that many epochs
  without a better validation loss (reduce on plateau).
- **step mode** (``train_steps``; char LM, seq2seq): ``steps`` optimizer steps on freshly
  drawn batches, the learning rate cosine-decayed to 10%, and a running (exponentially
  smoothed) training loss on the bar.

Progress (``edgernn.train.progress.Progress``) suits stderr: bars on a terminal; in a log one
plain line per epoch, or about 20 lines a run in step mode; nothing when ``quiet``.

The trainer draws no random numbers itself: shuffles and batches come from the task, dropout
from torch's global generator, so a task seeded as before trains to the same numbers.

>>> model = torch.nn.Linear(2, 1)
>>> x = torch.ones(8, 2)  # (B, F)
>>> history = train_steps(model, LoopConfig(lr=0.1, steps=3, quiet=True),
...                       lambda: model(x).pow(2).mean())
>>> history.steps, history.smoothed_loss is not None
(3, True)
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from edgernn.train.cells import native_kernels
from edgernn.train.progress import Progress, log_every

Score = float | tuple[float, ...]  # lower is better


@dataclass(frozen=True)
class LoopConfig:
    """How a model is optimized; every task fills it from its own settings."""

    lr: float  # Adam learning rate at the start
    clip: float = 1.0  # max gradient L2 norm over all parameters; 0 = no clipping
    epochs: int = 1  # epoch mode: upper bound on passes over the training examples
    batch_size: int = 32  # epoch mode: examples per optimizer step
    patience: int = 0  # epoch mode: epochs without a better score before stopping; 0 = never
    lr_patience: int | None = None  # epoch mode: epochs without a better val loss before the
    # lr halves; None = constant lr
    mean_by_example: bool = False  # epoch mode: the epoch's training loss weights each batch by
    # its size (False: the plain mean of the batch losses)
    steps: int = 1  # step mode: optimizer steps
    desc: str = "train"  # the progress bar's label
    quiet: bool = False  # no progress at all


@dataclass(frozen=True)
class Evaluation:
    """What a task makes of the model after one epoch."""

    score: Score  # lower is better; the best epoch's weights are kept
    val_loss: float | None  # the validation loss (steps the lr plateau; None: no validation)
    row: dict  # this epoch's numbers, as the history keeps them
    postfix: dict[str, str]  # shown on the progress bar and a log's epoch line (the loop sets
    # the lr)


class EpochTask(Protocol):
    """What epoch mode needs from a task."""

    size: int  # training examples per epoch

    def shuffle(self) -> Sequence[int] | torch.Tensor:
        """A fresh order of the training examples (drawn from the task's own generator)."""
        ...

    def loss(self, idx: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """The loss of the batch of examples ``idx`` (the model is in training mode)."""
        ...

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        """Score the model after ``epoch`` (1-based); may raise to stop training."""
        ...


@dataclass
class History:
    """How training went, epoch by epoch (epoch mode) or as a whole (step mode)."""

    train_loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    val_loss: list[float | None] = field(default_factory=list)  # validation loss per epoch
    lr: list[float] = field(default_factory=list)  # learning rate used in each epoch
    rows: list[dict] = field(default_factory=list)  # each epoch's numbers (``Evaluation.row``)
    best_epoch: int = 0  # 1-based epoch whose weights were kept
    stopped_early: bool = False  # True if patience ran out before the last epoch
    # mean L2 norm (before clipping) of each part's gradients per epoch, when parts are given
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0  # optimizer steps taken
    smoothed_loss: float | None = None  # step mode: training loss smoothed 0.95 / 0.05
    seconds: float = 0.0  # wall time of the loop

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)


@dataclass
class TrainResult:
    """What a training run made, for every task."""

    model: nn.Module  # trained (the best epoch's weights in epoch mode), eval mode
    history: History  # how training went
    metrics: dict = field(default_factory=dict)  # the task's numbers after training
    data: Any = None  # what it was trained on, as the task describes it (Dataset, Corpus, Pairs)
    report: dict = field(default_factory=dict)  # report.json's content, once written
    files: dict[str, Path] = field(default_factory=dict)  # written: checkpoint, report, onnx, ...


class Optimizer:
    """Adam with clipping: one ``update(loss)`` per batch, optional gradient-norm recording."""

    def __init__(self, model: nn.Module, config: LoopConfig, parts: dict | None = None):
        self.params = list(model.parameters())
        self.opt = torch.optim.Adam(self.params, lr=config.lr)
        self.clip = config.clip
        self.parts = parts or {}  # name -> parameters whose gradient norm is recorded
        self.norm_sum = torch.zeros(len(self.parts), dtype=torch.float64)  # (parts,)

    @property
    def lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def update(self, loss: torch.Tensor) -> float:
        """One optimizer step on ``loss``; its value."""
        self.opt.zero_grad()
        loss.backward()
        if self.parts:
            self.norm_sum += part_norms(self.parts)
        if self.clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        return loss.item()

    def take_norms(self, batches: int) -> list[float]:
        """The mean gradient norm of each part since the last call, over ``batches``."""
        mean = (self.norm_sum / max(batches, 1)).tolist()
        self.norm_sum = torch.zeros(len(self.parts), dtype=torch.float64)
        return mean


def part_norms(parts: dict[str, list[nn.Parameter]]) -> torch.Tensor:
    """L2 norm of each part's current .grad (all its parameters together; 0 without
    gradients): (parts,) float64."""
    with torch.no_grad():
        out = []
        for params in parts.values():
            grads = [p.grad.detach().reshape(-1) for p in params if p.grad is not None]
            out.append(
                torch.linalg.vector_norm(torch.cat(grads)).double()
                if grads
                else torch.zeros((), dtype=torch.float64)
            )
        return torch.stack(out)


# ---- epoch mode ----------------------------------------------------------------------------
def train_epochs(
    model: nn.Module, task: EpochTask, config: LoopConfig, parts: dict | None = None
) -> History:
    """Train ``model`` in place; keep the best epoch's weights (eval mode at the end). ``parts``
    (name -> parameters): record each one's mean gradient norm per epoch."""
    optimizer = Optimizer(model, config, parts)
    plateau = None
    if config.lr_patience is not None:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer.opt, mode="min", factor=0.5, patience=config.lr_patience
        )
    history, best, best_state, waited = History(), None, None, 0
    start = time.perf_counter()
    progress = Progress("epoch", config.epochs, config.desc, config.quiet)
    with native_kernels():
        for epoch in range(1, config.epochs + 1):
            history.lr.append(optimizer.lr)
            train_loss = _one_epoch(model, task, optimizer, config, history, progress)
            seen = task.evaluate(epoch, train_loss, history.lr[-1])
            history.train_loss.append(train_loss)
            history.val_loss.append(seen.val_loss)
            history.rows.append(seen.row)
            if plateau is not None:
                plateau.step(seen.val_loss)
            progress.update(epoch, seen.postfix | {"lr": f"{history.lr[-1]:.2g}"})
            if best is None or seen.score < best:
                best, history.best_epoch, waited = seen.score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if config.patience and waited >= config.patience:
                history.stopped_early = True
                break
    progress.close()
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def _one_epoch(
    model: nn.Module,
    task: EpochTask,
    optimizer: Optimizer,
    config: LoopConfig,
    history: History,
    progress: Progress,
) -> float:
    """One shuffled pass; the epoch's training loss. Appends the gradient norms to ``history``."""
    model.train()
    order = task.shuffle()
    starts = range(0, task.size, config.batch_size)
    losses, sizes = [], []
    for i in progress.batches(starts):
        idx = order[i : i + config.batch_size]
        losses.append(optimizer.update(task.loss(idx)))
        sizes.append(len(idx))
    history.steps += len(losses)
    for name, value in zip(optimizer.parts, optimizer.take_norms(len(starts))):
        history.grad_norms.setdefault(name, []).append(value)
    if not config.mean_by_example:
        return float(np.mean(losses))
    total = 0.0
    for value, size in zip(losses, sizes):
        total += value * size
    return total / task.size


# ---- step mode -----------------------------------------------------------------------------
def train_steps(
    model: nn.Module, config: LoopConfig, batch_loss: Callable[[], torch.Tensor]
) -> History:
    """``config.steps`` optimizer steps on ``batch_loss()`` (called with the model in training
    mode, once per step); the learning rate follows a cosine from ``lr`` down to 10% of it."""
    optimizer = Optimizer(model, config)
    steps = config.steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer.opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    history = History()
    start = time.perf_counter()
    progress = Progress("step", steps, config.desc, config.quiet, every=log_every(steps))
    with native_kernels():
        for step in range(1, steps + 1):
            model.train()
            lr = optimizer.lr
            value = optimizer.update(batch_loss())
            schedule.step()
            running = history.smoothed_loss
            history.smoothed_loss = value if running is None else 0.95 * running + 0.05 * value
            history.steps += 1
            progress.update(step, {"loss": f"{history.smoothed_loss:.3f}", "lr": f"{lr:.2g}"})
    progress.close()
    history.seconds = time.perf_counter() - start
    return history
