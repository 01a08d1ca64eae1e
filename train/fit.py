"""The training loop: Adam, gradient clipping, reduce-LR-on-plateau, early stopping, progress.

The loss is the MSE over every step of every window (model units, zero initial state), so
each step's output is trained to be a good next-step forecast: the runtime streams from a
zero state forever and uses all of them. The weights of the best validation epoch are kept.

A bidirectional (window) forecaster is trained many-to-one: it returns one forecast per window
(B, 1, K) and the loss is on the last step only (the value after the window); its backward
layers would otherwise see the very values they forecast.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from edgernn.errors import UsageError
from edgernn.train.config import TrainConfig
from edgernn.train.models import Forecaster, native_kernels
from edgernn.train.windows import Windows

EVAL_BATCH = 1024  # windows per forward pass when predicting


@dataclass
class History:
    """What happened, epoch by epoch (losses are MSE in model units over all steps)."""

    train_loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    val_loss: list[float] = field(default_factory=list)  # validation loss after each epoch
    lr: list[float] = field(default_factory=list)  # learning rate used in each epoch
    best_epoch: int = 0  # 1-based epoch whose weights were kept
    stopped_early: bool = False  # True if patience ran out before cfg.epochs
    # mean L2 norm (before clipping) of each part's gradients per epoch: "layer0", "layer1", ..., "head"
    grad_norms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, so the same seed gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict(model: Forecaster, x: np.ndarray) -> np.ndarray:
    """(W, T, F) model-unit inputs -> (W, T, K) model-unit outputs, from a zero state, eval mode."""
    model.eval()
    outs = []
    with native_kernels(), torch.no_grad():
        for i in range(0, len(x), EVAL_BATCH):
            outs.append(model(torch.from_numpy(x[i : i + EVAL_BATCH]))[0].numpy())
    return (
        np.concatenate(outs)
        if outs
        else np.empty(x.shape[:2] + (model.config.n_targets,), np.float32)
    )


def fit(model: Forecaster, train: Windows, val: Windows, cfg: TrainConfig) -> History:
    """Train ``model`` in place on ``train``; stop on ``val``; keep the best epoch's weights."""
    with native_kernels():
        return _fit(model, train, val, cfg)


def _fit(model: Forecaster, train: Windows, val: Windows, cfg: TrainConfig) -> History:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=cfg.lr_patience
    )
    gen = torch.Generator().manual_seed(cfg.seed)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)  # (W, T, F), (W, T, K)
    hist, best_state, waited = History(), None, 0
    epochs = tqdm(
        range(1, cfg.epochs + 1),
        desc="train",
        unit="epoch",
        file=sys.stderr,
        disable=not _live(cfg),
    )
    for epoch in epochs:
        hist.lr.append(opt.param_groups[0]["lr"])
        hist.train_loss.append(_train_epoch(model, opt, x, y, cfg, gen, hist.grad_norms))
        hist.val_loss.append(_loss(model, val))
        _check_finite(hist, epoch)
        plateau.step(hist.val_loss[-1])
        losses = dict(
            train=f"{hist.train_loss[-1]:.4g}",
            val=f"{hist.val_loss[-1]:.4g}",
            lr=f"{hist.lr[-1]:.2g}",
        )
        epochs.set_postfix(losses)
        if not cfg.quiet and not _live(
            cfg
        ):  # a log file: one plain line per epoch, no redrawn bars
            print(
                f"epoch {epoch}/{cfg.epochs}: " + ", ".join(f"{k} {v}" for k, v in losses.items()),
                file=sys.stderr,
                flush=True,
            )
        if best_state is None or hist.val_loss[-1] < hist.val_loss[hist.best_epoch - 1]:
            hist.best_epoch, waited = epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        if cfg.patience and waited >= cfg.patience:
            hist.stopped_early = True
            break
    epochs.close()
    model.load_state_dict(best_state)
    model.eval()
    return hist


def _train_epoch(
    model: Forecaster,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    gen: torch.Generator,
    grad_norms: dict[str, list[float]] | None = None,
) -> float:
    """One shuffled pass; returns the mean batch loss. Appends this epoch's mean gradient norm
    per part (before clipping) to ``grad_norms`` when given."""
    model.train()
    order = torch.randperm(len(x), generator=gen)
    total, batches = 0.0, range(0, len(x), cfg.batch_size)
    parts = grad_parts(model)
    norm_sum = torch.zeros(len(parts), dtype=torch.float64)
    for i in tqdm(
        batches, desc="batches", unit="batch", leave=False, file=sys.stderr, disable=not _live(cfg)
    ):
        idx = order[i : i + cfg.batch_size]
        opt.zero_grad()
        loss = nn.functional.mse_loss(
            *_last_if_window(model, model(x[idx])[0], y[idx])
        )  # all steps (causal)
        loss.backward()
        norm_sum += _part_norms(parts)
        if cfg.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        total += loss.item() * len(idx)
    if grad_norms is not None:
        for name, v in zip(parts, (norm_sum / max(len(batches), 1)).tolist()):
            grad_norms.setdefault(name, []).append(v)
    return total / len(x)


def _live(cfg: TrainConfig) -> bool:
    """Progress bars redrawn in place: only on a terminal (a log gets one line per epoch instead)."""
    return not cfg.quiet and bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())


def grad_parts(model: Forecaster) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters whose gradient norms are recorded: each recurrent layer and the head."""
    parts = {f"layer{i}": list(layer.parameters()) for i, layer in enumerate(model.layers)}
    parts["head"] = list(model.head.parameters())
    return parts


def _part_norms(parts: dict[str, list[torch.nn.Parameter]]) -> torch.Tensor:
    """L2 norm of each part's current .grad (all its parameters together; 0 without gradients)."""
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


def _loss(model: Forecaster, w: Windows) -> float:
    """MSE over all steps of ``w`` (the last step for a window model), model units."""
    pred, y = _last_if_window(model, predict(model, w.x), w.y)
    return float(np.mean((pred - y) ** 2))


def _last_if_window(model: Forecaster, pred, y):
    """(pred, y) over every step for a causal model; for a window model, whose output is its one
    forecast (B, 1, K), the targets' last step (B, 1, K)."""
    if getattr(model, "causal", True):
        return pred, y
    return pred[:, -1:], y[:, -1:]


def _check_finite(hist: History, epoch: int) -> None:
    if not (math.isfinite(hist.train_loss[-1]) and math.isfinite(hist.val_loss[-1])):
        raise UsageError(
            f"training diverged (loss is not finite at epoch {epoch}); lower --lr or keep --clip at 1.0"
        )
