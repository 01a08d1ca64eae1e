"""Stateful training data: contiguous lanes cut into consecutive chunks, as Keras'
``stateful=True`` trains and as the runtime streams.

Each series' training rows are cut into a few long contiguous lanes; the lanes run side by side
(the batch), and each epoch walks them chunk by chunk (``bptt`` steps), carrying the detached
state from one chunk to the next. The chunk boundaries shift by a random offset every epoch, so
backpropagation is not always cut at the same steps. A lane's first ``burn`` steps only fill the
highway's lags and carry no loss; lanes shorter than the longest are padded, the padding
masked out.

>>> x = np.arange(80.0, dtype=np.float32).reshape(40, 2)         # (N, F)
>>> lanes = Lanes.cut([x], [x[:, :1]], bptt=4, most=2, burn=1)  # 39 steps: lanes of 20 and 19
>>> lanes.x.shape, float(lanes.mask.sum())
((2, 20, 2), 37.0)
>>> [b - a for a, b in lanes.chunks(offset=3)]
[3, 4, 4, 4, 4, 1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from edgernn.train.forecast.model import Forecaster

MIN_CHUNKS = 4  # a lane is at least this many chunks long (shorter series make one lane)
MIN_STEPS = 64  # an epoch walks the lanes as many times as it takes to make this many steps


@dataclass
class Lanes:
    """Every lane, padded to the longest: inputs, next-step targets, and which steps count."""

    x: np.ndarray  # (B, T, F) inputs, model units, float32
    y: np.ndarray  # (B, T, K) the next step's targets, model units, float32
    mask: np.ndarray  # (B, T) 1 where the step's forecast is scored, 0 for burn-in and padding
    bptt: int  # steps per chunk

    @classmethod
    def cut(
        cls,
        xs: Sequence[np.ndarray],
        ys: Sequence[np.ndarray],
        bptt: int,
        most: int,
        burn: int = 0,
    ) -> Lanes:
        """Lanes from series ``xs`` (each (N, F)) and their targets ``ys`` (each (N, K)): at most
        ``most`` lanes in all, each at least MIN_CHUNKS chunks long (one per series if shorter)."""
        steps = sum(max(len(x) - 1, 0) for x in xs)
        length = max(MIN_CHUNKS * bptt, math.ceil(steps / max(most, 1)))
        pieces = []
        for x, y in zip(xs, ys):
            n = len(x) - 1  # steps with a next value to forecast
            if n < 1:
                continue
            count = max(1, min(n // (MIN_CHUNKS * bptt), math.ceil(n / length)))
            edges = np.linspace(0, n, count + 1).astype(int)
            pieces += [(x[a:b], y[a + 1 : b + 1]) for a, b in zip(edges[:-1], edges[1:])]
        pieces.sort(key=lambda p: -len(p[0]))
        longest = len(pieces[0][0])
        f, k = xs[0].shape[1], ys[0].shape[1]
        lx = np.zeros((len(pieces), longest, f), np.float32)
        ly = np.zeros((len(pieces), longest, k), np.float32)
        mask = np.zeros((len(pieces), longest), np.float32)
        for i, (px, py) in enumerate(pieces):
            lx[i, : len(px)], ly[i, : len(py)] = px, py
            mask[i, burn : len(px)] = 1.0
        return cls(lx, ly, mask, bptt)

    def __len__(self) -> int:
        return self.x.shape[0]

    def chunks(self, offset: int = 0) -> list[tuple[int, int]]:
        """(start, end) of each chunk in order; the first is ``offset`` steps long when > 0."""
        edges = [0] + list(range(offset or self.bptt, self.x.shape[1], self.bptt))
        return list(zip(edges, edges[1:] + [self.x.shape[1]]))


class ChunkTask:
    """Stateful training as the loop sees it: the "examples" are the chunks, in order, one per
    optimizer step; the state is carried (detached) from one to the next. A short series walks
    its lanes several times per epoch (at least MIN_STEPS steps), each walk from a fresh state
    with its own random offset."""

    def __init__(self, model: Forecaster, lanes: Lanes, validate, seed: int):
        self.model, self.lanes, self.validate = model, lanes, validate
        self.x, self.y = torch.from_numpy(lanes.x), torch.from_numpy(lanes.y)
        self.mask = torch.from_numpy(lanes.mask)
        self.generator = torch.Generator().manual_seed(seed)
        self.walks = max(1, math.ceil(MIN_STEPS / len(lanes.chunks())))
        self.bounds: list[tuple[int, int]] = []
        self.size = self.walks * len(lanes.chunks())
        self.state: list[torch.Tensor] = []

    def shuffle(self) -> torch.Tensor:
        """A new epoch: its walks' chunk boundaries, each walk shifted by a random offset."""
        self.bounds = []
        for _ in range(self.walks):
            offset = int(torch.randint(self.lanes.bptt, (1,), generator=self.generator))
            self.bounds += self.lanes.chunks(offset)
        self.size = len(self.bounds)
        return torch.arange(self.size)

    def loss(self, idx: torch.Tensor) -> torch.Tensor:
        """The masked MSE of chunk ``idx[0]`` (the loop's batch size is 1 chunk)."""
        a, b = self.bounds[int(idx[0])]
        if a == 0:  # a walk starts: a fresh state, as a stream starts
            self.state = self.model.initial_state(len(self.lanes))
        pred, *state = self.model(self.x[:, a:b], *self.state)  # (B, T, K)
        self.state = [s.detach() for s in state]
        m = self.mask[:, a:b, None]  # (B, T, 1)
        err = (pred - self.y[:, a:b]) ** 2 * m
        return err.sum() / (m.sum() * pred.shape[2]).clamp(min=1.0)

    def evaluate(self, epoch: int, train_loss: float, lr: float):
        return self.validate(epoch, train_loss, lr)
