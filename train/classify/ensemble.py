"""Several classifiers of one size, trained apart, as one model whose probabilities are their
mean.

A network trained on a few dozen sequences lands in quite different places from one seed to
the next (on PickupGestureWiimoteZ, 50 training sequences, test accuracy ranges 0.68-0.80 over
eight seeds); the mean of a few of them is steadier and better than a typical one, which is
why InceptionTime ships as five networks. Each member keeps its own state, one after another
in the state list; the graph's ``logits`` are the log of the members' mean probability, so a
softmax of them is that mean exactly and the runtime needs nothing new.

>>> cfg = ClassifierConfig(arch="gru", n_features=2, hidden=(4,), n_classes=3, members=2)
>>> net = build_classifier(cfg)
>>> logits, *states = net(torch.zeros(5, 7, 2))  # (B, T, F)
>>> tuple(logits.shape), len(states)  # (B, T, C), one GRU state per member
((5, 7, 3), 2)
>>> bool(torch.allclose(logits.exp().sum(-1), torch.ones(5, 7)))  # mean probabilities
True
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from edgernn.train.classify.model import Classifier, ClassifierConfig


class Ensemble(nn.Module):
    """``config.members`` classifiers of ``config``'s size; log of their mean probability."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        one = replace(config, members=1)
        self.members = nn.ModuleList(Classifier(one) for _ in range(config.members))
        self.sizes = [len(m.state_shapes()) for m in self.members]  # states per member

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [s for m in self.members for s in m.initial_state(batch)]

    def state_shapes(self) -> list[tuple]:
        return [s for m in self.members for s in m.state_shapes()]

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) model units or (B, T) int64 ids -> (log mean probability (B, T, C),
        *every member's new states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        logps, new, i = [], [], 0
        for member, n in zip(self.members, self.sizes):
            logits, *s = member(x, *states[i : i + n])
            logps.append(torch.log_softmax(logits, dim=-1))  # (B, T, C)
            new += s
            i += n
        mean = torch.logsumexp(torch.stack(logps), dim=0) - math.log(len(logps))  # (B, T, C)
        return (mean, *new)


def build_classifier(config: ClassifierConfig) -> Classifier | Ensemble:
    """One classifier, or an ensemble of ``config.members``."""
    return Ensemble(config) if config.members > 1 else Classifier(config)
