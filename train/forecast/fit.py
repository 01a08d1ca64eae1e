"""Fitting a forecaster: the epoch mode of ``edgernn.train.loop`` on training windows.

The loss is the MSE over every step of every window (model units, zero initial state), so
each step's output is trained to be a good next-step forecast: the runtime streams from a
zero state forever and uses all of them. Adam, gradient clipping, reduce-LR-on-plateau and
early stopping on the validation loss; the weights of the best validation epoch are kept.

A bidirectional (window) forecaster is trained many-to-one: it returns one forecast per window
(B, 1, K) and the loss is on the last step only (the value after the window); its backward
layers would otherwise see the very values they forecast.
"""

from __future__ import annotations

import math
import random
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from edgernn.errors import UsageError
from edgernn.train.cells import native_kernels
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.model import Forecaster
from edgernn.train.forecast.windows import Windows
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


def fit(model: Forecaster, train: Windows, val: Windows, cfg: TrainConfig) -> History:
    """Train ``model`` in place on ``train``; stop on ``val``; keep the best epoch's weights."""
    loop = LoopConfig(
        lr=cfg.lr,
        clip=cfg.clip,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        patience=cfg.patience,
        lr_patience=cfg.lr_patience,
        mean_by_example=True,
        desc="train",
        quiet=cfg.quiet,
        terminal_only=True,
    )
    return train_epochs(model, WindowTask(model, train, val, cfg.seed), loop, grad_parts(model))


class WindowTask:
    """Forecaster training as the loop sees it: shuffled windows, MSE, validation MSE."""

    def __init__(self, model: Forecaster, train: Windows, val: Windows, seed: int):
        self.model, self.val = model, val
        # (W, T, F), (W, T, K)
        self.x, self.y = (
            torch.from_numpy(train.x),
            torch.from_numpy(train.y),
        )
        self.size = len(train)
        self.generator = torch.Generator().manual_seed(seed)

    def shuffle(self) -> torch.Tensor:
        return torch.randperm(self.size, generator=self.generator)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        """MSE over all steps (causal), or the last (window model)."""
        pred = self.model(self.x[idx])[0]  # (B, T, K), or (B, 1, K) for a window model
        return nn.functional.mse_loss(*last_if_window(self.model, pred, self.y[idx]))

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        val_loss = window_loss(self.model, self.val)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise UsageError(
                f"training diverged (loss is not finite at epoch {epoch}); "
                "lower --lr or keep --clip at 1.0"
            )
        shown = {"train": f"{train_loss:.4g}", "val": f"{val_loss:.4g}", "lr": f"{lr:.2g}"}
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr}
        return Evaluation(val_loss, val_loss, row, shown)


def grad_parts(model: Forecaster) -> dict[str, list[nn.Parameter]]:
    """The parameters whose gradient norms are recorded: each recurrent layer and the head."""
    parts = {f"layer{i}": list(layer.parameters()) for i, layer in enumerate(model.layers)}
    parts["head"] = list(model.head.parameters())
    return parts


def window_loss(model: Forecaster, w: Windows) -> float:
    """MSE over all steps of ``w`` (the last step for a window model), model units."""
    pred, y = last_if_window(model, predict(model, w.x), w.y)
    return float(np.mean((pred - y) ** 2))


def last_if_window(model: Forecaster, pred: Array, y: Array) -> tuple[Array, Array]:
    """(pred, y) over every step for a causal model; for a window model, whose output is its one
    forecast (B, 1, K), the targets' last step (B, 1, K)."""
    if getattr(model, "causal", True):
        return pred, y
    return pred[:, -1:], y[:, -1:]
