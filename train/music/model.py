"""The event model: the char LM's embedding + stacked recurrent layers + linear head, with the
recurrent layers LSTM (as ``CharLM``) or GRU (one state tensor per layer instead of two).

>>> net = EventLM(MusicConfig(vocab_size=10, hidden=(6, 4), embed=3, arch="gru"))
>>> logits, *states = net(torch.zeros(2, 5, dtype=torch.int64))
>>> tuple(logits.shape), [tuple(s.shape) for s in states]
((2, 5, 10), [(1, 2, 6), (1, 2, 4)])
"""

from __future__ import annotations

import torch
from torch import nn

from edgernn.train.charlm.model import CharLM
from edgernn.train.music.config import MusicConfig


class EventLM(CharLM):
    """Event ids -> next-event logits, with explicit state per layer (LSTM: h, c; GRU: h)."""

    config: MusicConfig

    def __init__(self, config: MusicConfig):
        super().__init__(config)
        if config.arch == "gru":
            sizes_in = (config.embed,) + config.hidden[:-1]
            self.layers = nn.ModuleList(
                nn.GRU(i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden)
            )

    @property
    def per_layer(self) -> int:
        return 2 if self.config.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        return [torch.zeros(1, batch, h) for h in self.config.hidden for _ in range(self.per_layer)]

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", h) for h in self.config.hidden for _ in range(self.per_layer)]

    def forward(self, tokens: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """tokens: (B, T) int64 -> (logits (B, T, V), *new_states)."""
        if self.config.arch == "lstm":
            return super().forward(tokens, *states)
        if not states:
            states = tuple(self.initial_state(tokens.shape[0]))
        h = self.embed(tokens)  # (B, T, E)
        new_states: list[torch.Tensor] = []
        for layer, state in zip(self.layers, states):
            h, hn = layer(h, state)  # (B, T, H)
            new_states.append(hn)
        return (self.head(h), *new_states)  # (B, T, V)
