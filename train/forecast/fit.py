"""Fitting a forecaster: the epoch mode of ``edgernn.train.loop``, stateful or on windows.

- **stateful** (``--train-mode stateful``): contiguous lanes walked chunk by chunk with the
  state carried over (``edgernn.train.forecast.chunks``), as the runtime streams.
- **windows**: shuffled windows, each from a zero state; the loss is the MSE over every step of
  every window (after the burn-in that fills the highway's lags), so each step's output is
  trained to be a good next-step forecast.

Either way the validation loss is what streaming gives: the model runs over each series from
its first row with its state carried, and the forecasts of the validation rows are scored
(model units). Adam, gradient clipping, reduce-LR-on-plateau and early stopping on that loss;
the weights of the best validation epoch are kept, and with the highway the weights it started
from (the least-squares autoregression, no correction yet) count as epoch 0.

A bidirectional (window) forecaster is trained many-to-one: it returns one forecast per window
(B, 1, K) and the loss is on the last step only (the value after the window); its backward
layers would otherwise see the very values they forecast.
"""

from __future__ import annotations

import copy
import math
import random
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from edgernn.errors import UsageError
from edgernn.train.cells import native_kernels
from edgernn.train.forecast.chunks import ChunkTask, Lanes
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.model import Forecaster
from edgernn.train.forecast.windows import Dataset, Windows
from edgernn.train.loop import Evaluation, History, LoopConfig, train_epochs

EVAL_BATCH = 1024  # windows per forward pass when predicting
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, so the same seed gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict(model: Forecaster, x: np.ndarray) -> np.ndarray:
    """(W, T, F) model-unit inputs -> (W, T, K) model-unit outputs, from a zero state, eval
    mode."""
    model.eval()
    outs = []
    with native_kernels(), torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            outs.append(model(torch.from_numpy(x[i : i + EVAL_BATCH]))[0].numpy())
    if not outs:
        return np.empty(x.shape[:2] + (model.config.n_targets,), np.float32)
    return np.concatenate(outs)


def fit(model: Forecaster, data: Dataset, cfg: TrainConfig) -> History:
    """Train ``model`` in place on ``data``, stateful or on windows as its plan says; stop on the
    validation loss; keep the best epoch's weights (``history.best_epoch`` 0: the starting
    weights were best)."""
    stateful = data.plan is not None and data.plan.train_mode == "stateful"
    loop = LoopConfig(
        lr=cfg.lr,
        clip=cfg.clip,
        epochs=cfg.epochs,
        batch_size=1 if stateful else cfg.batch_size,
        patience=cfg.patience,
        lr_patience=cfg.lr_patience,
        mean_by_example=not stateful,
        desc="train",
        quiet=cfg.quiet,
    )
    validate = Validation(model, data)
    start = copy.deepcopy(model.state_dict()) if model.highway is not None else None
    first = validate.loss() if start is not None else math.inf
    task: ChunkTask | WindowTask
    if stateful:
        burn = max(model.config.lags, default=0)
        xs = [data.scaled(i) for i in range(len(data.series))]
        ys = [data.target_scaler.transform(s.y) for s in data.series]
        train = [(x[: b[0]], y[: b[0]]) for x, y, b in zip(xs, ys, data.bounds)]
        lanes = Lanes.cut(
            [x for x, _ in train], [y for _, y in train], cfg.bptt, cfg.batch_size, burn
        )
        task = ChunkTask(model, lanes, validate.evaluate, cfg.seed)
    else:
        task = WindowTask(model, data.parts["train"], validate.evaluate, cfg.seed)
    history = train_epochs(model, task, loop, grad_parts(model))
    if start is not None and first <= min(v for v in history.val_loss if v is not None):
        model.load_state_dict(start)  # no epoch beat the autoregression it started from
        history.best_epoch = 0
    return history


class Validation:
    """The validation loss as streaming gives it: each series from its first row, state carried;
    the forecasts of its validation rows scored (model units). A window model (not causal) is
    scored on its validation windows instead."""

    def __init__(self, model: Forecaster, data: Dataset):
        self.model, self.data = model, data
        # per series, scaled once: the rows up to the test split (b, F) and the validation
        # targets (b - a, K), model units
        self.rows = [data.scaled(i)[:b] for i, (_, b) in enumerate(data.bounds)]
        self.targets = [
            data.target_scaler.transform(s.y[a:b]) for s, (a, b) in zip(data.series, data.bounds)
        ]

    def loss(self) -> float:
        if not self.model.causal:
            return window_loss(self.model, self.data.parts["val"])
        total, count = 0.0, 0
        for x, y, (a, b) in zip(self.rows, self.targets, self.data.bounds):
            pred = stream_predict(self.model, x)  # (b, K): row t's forecast
            total += float(np.sum((pred[a:b] - y) ** 2))
            count += y.size
        return total / max(count, 1)

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        val_loss = self.loss()
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise UsageError(
                f"training diverged (loss is not finite at epoch {epoch}); "
                "lower --lr or keep --clip at 1.0"
            )
        shown = {"train": f"{train_loss:.4g}", "val": f"{val_loss:.4g}", "lr": f"{lr:.2g}"}
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr}
        return Evaluation(val_loss, val_loss, row, shown)


def stream_predict(model: Forecaster, x: np.ndarray) -> np.ndarray:
    """x (N, F) model units, one series from its start -> (N, K): row t's forecast, made at row
    t - 1 with the state carried (row 0: NaN), model units, eval mode."""
    model.eval()
    with native_kernels(), torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x, np.float32))[None])[0][0].numpy()
    out = np.full(y.shape, np.nan, np.float32)
    out[1:] = y[:-1]
    return out


class WindowTask:
    """Forecaster training on windows as the loop sees it: shuffled windows, MSE."""

    def __init__(self, model: Forecaster, train: Windows, validate, seed: int):
        self.model, self.validate = model, validate
        # (W, T, F), (W, T, K)
        self.x, self.y = (
            torch.from_numpy(train.x),
            torch.from_numpy(train.y),
        )
        self.burn = train.burn
        self.size = len(train)
        self.generator = torch.Generator().manual_seed(seed)

    def shuffle(self) -> torch.Tensor:
        return torch.randperm(self.size, generator=self.generator)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        """MSE over all steps after the burn-in (causal), or the last (window model)."""
        pred = self.model(self.x[idx])[0]  # (B, T, K), or (B, 1, K) for a window model
        pred, y = last_if_window(self.model, pred, self.y[idx])
        return nn.functional.mse_loss(pred[:, self.burn :], y[:, self.burn :])

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        return self.validate(epoch, train_loss, lr)


def grad_parts(model: Forecaster) -> dict[str, list[nn.Parameter]]:
    """The parameters whose gradient norms are recorded: each recurrent layer and the head."""
    parts = {f"layer{i}": list(layer.parameters()) for i, layer in enumerate(model.layers)}
    if model.head is not None:
        parts["head"] = list(model.head.parameters())
    if model.highway is not None:
        parts["highway"] = list(model.highway.parameters())
    return parts


def window_loss(model: Forecaster, w: Windows) -> float:
    """MSE over all steps of ``w`` after its burn-in (the last step for a window model), model
    units."""
    pred, y = last_if_window(model, predict(model, w.x), w.y)
    return float(np.mean((pred[:, w.burn :] - y[:, w.burn :]) ** 2))


def last_if_window(model: Forecaster, pred: Array, y: Array) -> tuple[Array, Array]:
    """(pred, y) over every step for a causal model; for a window model, whose output is its one
    forecast (B, 1, K), the targets' last step (B, 1, K)."""
    if getattr(model, "causal", True):
        return pred, y
    return pred[:, -1:], y[:, -1:]
