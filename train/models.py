"""Recurrent forecasters with explicit state, so the same module trains and exports.

``forward(x, *states)`` takes the recurrent state as plain tensors and returns the new
state next to the output. That is exactly the streaming graph's contract: the exporter
turns every state tensor into a graph input ``state_in.N`` and output ``state_out.N``.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@contextlib.contextmanager
def native_kernels() -> Iterator[None]:
    """oneDNN off for the duration: measured here, its LSTM kernel made a batch-32 x 50-step
    forward+backward take 1.08 s instead of 0.02 s. (``mkldnn.flags()`` would also warn about TF32.)"""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


@dataclass
class ForecasterConfig:
    arch: str = "lstm"  # recurrent cell: "rnn" (tanh), "lstm" or "gru"
    n_features: int = 1  # input columns per time step
    n_targets: int = 1  # forecast columns per time step (the next step's targets)
    hidden: tuple[int, ...] = (64, 64)  # hidden size of each stacked layer, bottom to top
    dropout: float = 0.0  # dropout between recurrent layers (training only)

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.arch not in CELLS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(CELLS)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden sizes must be positive integers, got {self.hidden}")

    def to_dict(self) -> dict:
        return asdict(self)


class Forecaster(nn.Module):
    """Stacked RNN / LSTM / GRU layers (own sizes each), dropout between, dense head."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = config
        sizes_in = (config.n_features,) + config.hidden[:-1]
        cell = CELLS[config.arch]
        self.layers = nn.ModuleList(cell(i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden))
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden[-1], config.n_targets)

    @property
    def states_per_layer(self) -> int:
        return 2 if self.config.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden (and cell, for LSTM)."""
        return [torch.zeros(1, batch, h) for h in self.config.hidden for _ in range(self.states_per_layer)]

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) in model units -> (y (B, T, n_targets), *new_states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        new_states: list[torch.Tensor] = []
        k = self.states_per_layer
        h = x  # (B, T, F)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.drop(h)
            state = states[i * k : (i + 1) * k]  # each (1, B, H_i)
            if k == 2:
                h, (hn, cn) = layer(h, (state[0], state[1]))  # (B, T, H_i)
                new_states += [hn, cn]
            else:
                h, hn = layer(h, state[0])  # (B, T, H_i)
                new_states.append(hn)
        y = self.head(h)  # (B, T, n_targets)
        return (y, *new_states)

    def state_shapes(self) -> list[tuple]:
        """Symbolic shapes for the signature: (1, "batch", H) per state tensor."""
        return [(1, "batch", h) for h in self.config.hidden for _ in range(self.states_per_layer)]
