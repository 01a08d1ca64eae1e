"""The optimizer loop shared by the step-counted trainers (char LM, seq2seq).

Adam with a cosine decay of the learning rate to 10% over ``steps``, gradient-norm clipping,
and a running (exponentially smoothed) training loss shown on a tqdm bar on stderr.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn


class StepTrainer:
    """``for _ in trainer: ...; trainer.update(loss)`` runs ``steps`` optimizer steps."""

    def __init__(
        self, module: nn.Module, lr: float, steps: int, clip: float, desc: str, quiet: bool
    ):
        from tqdm import tqdm

        self.params = list(module.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / steps))
        )
        self.clip = clip  # max gradient L2 norm; 0 = no clipping
        self.running: float | None = None  # smoothed training loss (0.95 / 0.05)
        self.bar = tqdm(range(steps), desc=desc, disable=quiet, unit="step")

    def __iter__(self) -> Iterator[int]:
        return iter(self.bar)

    def update(self, loss: torch.Tensor) -> None:
        """One optimizer step on ``loss``; the learning rate moves along its schedule."""
        self.opt.zero_grad()
        loss.backward()
        if self.clip > 0:
            nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.sched.step()
        value = loss.item()
        self.running = value if self.running is None else 0.95 * self.running + 0.05 * value
        self.bar.set_postfix(loss=f"{self.running:.3f}")
