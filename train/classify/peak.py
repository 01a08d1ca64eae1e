"""Max pooling over time that streams: the running maximum of each feature is kept as state.

A classifier's features at step t are pooled over steps 1..t: ``peak_t = max_{s <= t} h_s``,
per channel. It answers "did this pattern ever occur, and how strongly" wherever it occurred,
which attention pooling (a weighted mean) and the latest step blur on short or sparse events;
on small motion data sets it is what lifts a temporal CNN most (benchmarks/QUALITY.md).

State, so a zero state is a fresh stream:

- ``seen`` (1, B, 1): 1 once the stream has taken a step,
- ``peak`` (1, B, H): the running maximum of the features seen so far.

Whether the steps come one at a time, in chunks or as one whole sequence, the pooled values
are the same numbers (a maximum has no rounding). Training uses ``torch.cummax``; ONNX has no
cumulative maximum, so the exported graph takes, within a chunk, the maximum over a lower
triangular mask, (B, T, T, H) values for a chunk of T steps: the runtime feeds long inputs in
chunks (``edgernn.tasks.classify``).

>>> pool = MaxPool(3)
>>> h = torch.randn(2, 6, 3)  # (B, T, H)
>>> whole, *_ = pool(h, *pool.initial_state(2))
>>> state, steps = pool.initial_state(2), []
>>> for t in range(6):
...     out, *state = pool(h[:, t : t + 1], *state)
...     steps.append(out)
>>> torch.equal(whole, torch.cat(steps, dim=1)), torch.equal(whole[:, -1], h.amax(dim=1))
(True, True)
"""

from __future__ import annotations

import torch
from torch import nn


class MaxPool(nn.Module):
    """The running per-channel maximum over every step seen (no parameters)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """A fresh pool: seen and peak zero."""
        return [torch.zeros(1, batch, 1), torch.zeros(1, batch, self.hidden)]

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", 1), (1, "batch", self.hidden)]

    def forward(
        self, h: torch.Tensor, seen: torch.Tensor, peak: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """h (B, T, H) and the running state -> (maximum over everything seen up to each step
        (B, T, H), new seen, new peak). Axes between time and features (an ensemble's members,
        (B, T, M, H) with state (1, B, M, H)) are carried through."""
        if torch.onnx.is_in_onnx_export():
            t = torch.arange(h.shape[1])
            later = t.unsqueeze(0) > t.unsqueeze(1)  # (T, T): s after t
            for _ in range(h.dim() - 2):
                later = later.unsqueeze(-1)  # (T, T, 1[, 1])
            masked = torch.where(later, torch.full_like(h[:1, :1, :1], -torch.inf), h[:, None])
            running = masked.amax(dim=2)  # (B, T, H): max over s <= t
        else:
            running = torch.cummax(h, dim=1).values  # (B, T, H)
        started = seen.transpose(0, 1) > 0  # (B, 1, 1)
        out = torch.where(started, torch.maximum(running, peak.transpose(0, 1)), running)
        return out, torch.ones_like(seen), out[:, -1:].transpose(0, 1)
