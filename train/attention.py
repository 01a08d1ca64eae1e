"""Attention pooling over time that streams: the softmax is kept as running state.

Additive attention scores each step of the top recurrent layer, ``e_t = v . tanh(W h_t + b)``,
and pools ``sum_t softmax(e)_t h_t``. Over a whole window that needs every step at once; a
stream only ever has the past. So the pool carries an online softmax of the steps seen so far
(the flash-attention trick), kept small and bounded so it survives long streams in float32:

- ``seen``   (1, B, 1): 1 once the stream has taken a step; a zero state is a fresh stream,
- ``lse``    (1, B, 1): ``log sum_i exp(e_i)``, the log of the softmax's normaliser,
- ``pooled`` (1, B, H): the attention-weighted mean of the hidden states seen so far,

and the pooled vector after step t is attention over steps 1..t, exactly (up to float
rounding), whether the steps came one at a time or in chunks. Within a chunk the scores are
taken relative to the chunk's maximum (or ``lse``, whichever is larger), so no ``exp``
overflows; a step whose score sits more than ~87 below that reference underflows to weight 0,
which needs a score vector with ``|v|_1`` > 40, since tanh bounds each score by ``|v|_1``.
Attention over an ever longer history gives each new step a smaller weight (1/t for equal
scores), so the models feed their head the latest hidden state next to the attention context
(``[h_t, context_t]``); the natural fit is a sequence reset at its start (classification).

>>> import torch
>>> pool = AttentionPool(4)
>>> h = torch.randn(2, 5, 4)                                  # (B, T, H)
>>> pooled, *state = pool(h, *pool.initial_state(2))
>>> w = torch.softmax(pool.score(h[:, :3]), dim=1)            # attention over steps 1..3
>>> torch.allclose(pooled[:, 2], (w * h[:, :3]).sum(1), atol=1e-6)
True
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    """Additive (dense -> tanh -> score) attention over time, pooled causally with an online
    softmax."""

    def __init__(self, hidden: int, attention: int | None = None):
        super().__init__()
        self.proj = nn.Linear(hidden, attention or hidden)  # W, b
        self.v = nn.Linear(attention or hidden, 1, bias=False)  # a bias would cancel in the softmax
        self.hidden = hidden

    def score(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, T, 1) unnormalised attention scores."""
        return self.v(torch.tanh(self.proj(h)))

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """A fresh pool: seen, lse and pooled all zero."""
        return [
            torch.zeros(1, batch, 1),
            torch.zeros(1, batch, 1),
            torch.zeros(1, batch, self.hidden),
        ]

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", 1), (1, "batch", 1), (1, "batch", self.hidden)]

    def forward(
        self, h: torch.Tensor, seen: torch.Tensor, lse: torch.Tensor, pooled: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """h (B, T, H) and the running state -> (attention over everything seen up to each step
        (B, T, H), new seen, new lse, new pooled)."""
        return online_pool(self.score(h), h, seen, lse, pooled)


def online_pool(
    e: torch.Tensor, h: torch.Tensor, seen: torch.Tensor, lse: torch.Tensor, pooled: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The online softmax over time (dim 1) of scores ``e`` (B, T, ..., 1) pooling ``h``
    (B, T, ..., H); states (1, B, ..., 1 or H) as ``AttentionPool`` keeps them. Any axes between
    time and features are carried through (an ensemble's members)."""
    started = seen.transpose(0, 1) > 0  # (B, 1, 1) (shapes shown without member axes)
    lse0, p0 = lse.transpose(0, 1), pooled.transpose(0, 1)  # (B, 1, 1), (B, 1, H)
    top = e.amax(dim=1, keepdim=True)  # (B, 1, 1)
    ref = torch.where(started, torch.maximum(lse0, top), top)  # this chunk's reference
    # (B, 1, 1)
    carry = torch.where(started, torch.exp(torch.clamp(lse0 - ref, max=0.0)), torch.zeros_like(ref))
    w = torch.exp(e - ref)  # (B, T, 1), each <= 1
    # (B, T, 1): the normaliser up to each step, / exp(ref)
    norm = carry + torch.cumsum(w, dim=1)
    out = (p0 * carry + torch.cumsum(w * h, dim=1)) / norm  # (B, T, H)
    new_lse = ref + torch.log(norm[:, -1:])  # (B, 1, 1)
    return out, torch.ones_like(seen), new_lse.transpose(0, 1), out[:, -1:].transpose(0, 1)
