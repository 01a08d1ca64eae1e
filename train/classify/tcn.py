"""A temporal convolutional network (TCN) that streams: causal dilated 1-D convolutions whose
receptive field is carried as state.

Layer i convolves over time with kernel k and dilation 2**i, seeing only the present and the
past. Its state is the last (k - 1) * 2**i inputs it has seen, (1, B, (k-1)*2**i, C_in): a
fresh (zero) state is exactly the causal zero padding of a whole-sequence convolution, so one
step at a time, a chunk, and the whole sequence give the same outputs. Layers whose input and
output widths agree add their input back (residual). The receptive field is
1 + (k - 1) * (2**L - 1) steps for L layers.

>>> tcn = TemporalConv(2, (8, 8, 8), kernel=3)
>>> x = torch.randn(1, 10, 2)  # (B, T, F)
>>> whole, *_ = tcn(x, *tcn.initial_state(1))
>>> states, steps = tcn.initial_state(1), []
>>> for t in range(10):
...     h, *states = tcn(x[:, t : t + 1], *states)
...     steps.append(h)
>>> bool(torch.allclose(whole, torch.cat(steps, dim=1), atol=1e-6)), tcn.receptive_field
(True, 15)
"""

from __future__ import annotations

import torch
from torch import nn


def causal_taps(
    past: torch.Tensor, h: torch.Tensor, dilation: int, kernel: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer's input h (B, T, ..., C) after its history ``past`` (B, K, ..., C), K =
    (kernel - 1) * dilation -> (the kernel taps side by side, oldest first (B, T, ..., k*C);
    the new history (B, K, ..., C)). Tap j is steps j*d .. j*d + T of the joined input, i.e.
    it ends (k-1-j)*d before the end: constant offsets from the end export as Slice with
    constant bounds (no shape arithmetic in the graph)."""
    full = torch.cat([past, h], dim=1)  # (B, K + T, ..., C)
    d, k = dilation, kernel
    taps = torch.cat([full[:, j * d : -(k - 1 - j) * d or None] for j in range(k)], dim=-1)
    return taps, full[:, -(k - 1) * d :]


class TemporalConv(nn.Module):
    """Stacked causal dilated convolutions (ReLU, residual where widths agree); ``forward``
    takes and returns each layer's input history as state."""

    def __init__(self, n_in: int, channels: tuple[int, ...], kernel: int = 3):
        super().__init__()
        sizes_in = (n_in,) + tuple(channels[:-1])
        self.kernel = kernel
        self.dilations = tuple(2**i for i in range(len(channels)))
        # each layer: the k taps (oldest first) side by side -> one matrix multiply; the same
        # numbers as nn.Conv1d(i, o, k, dilation=d), but fast on CPU without oneDNN (whose
        # dilated convolution is off with ``native_kernels``) and plain MatMul in ONNX
        self.convs = nn.ModuleList(nn.Linear(i * kernel, o) for i, o in zip(sizes_in, channels))
        self.sizes_in = sizes_in

    @property
    def receptive_field(self) -> int:
        return 1 + sum((self.kernel - 1) * d for d in self.dilations)

    def history(self, i: int) -> int:
        """Past inputs layer ``i`` needs besides the present one."""
        return (self.kernel - 1) * self.dilations[i]

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [torch.zeros(1, batch, self.history(i), c) for i, c in enumerate(self.sizes_in)]

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", self.history(i), c) for i, c in enumerate(self.sizes_in)]

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (B, T, C) and each layer's history -> (features (B, T, H), *new histories)."""
        h, new = x, []
        for i, conv in enumerate(self.convs):
            # (B, T, k*C_in), history (B, K, C_in)
            taps, past = causal_taps(states[i][0], h, self.dilations[i], self.kernel)
            new.append(past.unsqueeze(0))  # (1, B, K, C_in)
            out = torch.relu(conv(taps))  # (B, T, C_out)
            h = out + h if out.shape[2] == h.shape[2] else out
        return (h, *new)
