"""Recurrent forecasters with explicit state, so the same module trains and exports.

``forward(x, *states)`` takes the recurrent state as plain tensors and returns the new
state next to the output. That is exactly the streaming graph's contract: the exporter
turns every state tensor into a graph input ``state_in.N`` and output ``state_out.N``.

A bidirectional forecaster (``bidirectional=True``) is not causal: its backward layers read a
window from its end, so it has no state to carry. ``forward(x)`` runs a whole window from zero
state and returns one forecast, the value after the window; the runtime re-runs the latest
window at every step (``edgernn.core.window.WindowStream``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgernn.train.attention import AttentionPool
from edgernn.train.cells import CELLS
from edgernn.train.forecast.highway import Highway

# between recurrent layers: nothing, or BatchNorm1d (inference statistics when exported)
NORMS = ("none", "batch")

# Every architecture the project supports, by name -> the ForecasterConfig fields that make it.
# tests/train/test_architectures.py trains, exports and runs each one, and fails when a cell,
# a norm or a ForecasterConfig field appears that no entry here uses.
ARCHITECTURES: dict[str, dict] = {
    "rnn": {"arch": "rnn"},
    "lstm": {"arch": "lstm"},
    "gru": {"arch": "gru"},
    # GRU with BatchNorm1d between layers (streams: eval-mode BN is affine)
    "gru-bn": {
        "arch": "gru",
        "norm": "batch",
    },
    "lstm-deep": {"arch": "lstm", "hidden": (128, 64, 32)},  # deep stacked LSTM of decreasing width
    "bilstm": {"arch": "lstm", "bidirectional": True},  # window model: not steppable
    # LSTM + additive attention pooling (online softmax as state)
    "lstm-attn": {
        "arch": "lstm",
        "attention": True,
    },
    # LSTM + the linear highway over lags 1, 2, 12, 13 (LSTNet), forecasting changes (delta): the
    # lags stream as state
    "lstm-highway": {"arch": "lstm", "lags": (1, 2, 12, 13), "target_cols": (0,), "delta": True},
    # the highway alone: a linear autoregression, to see what the network adds
    "linear": {"arch": "linear", "hidden": (), "lags": (1, 2, 12, 13), "target_cols": (0,)},
}
LINEAR = "linear"  # the arch with no recurrent layers: the highway alone


@dataclass
class ForecasterConfig:
    arch: str = "lstm"  # recurrent cell: "rnn" (tanh), "lstm" or "gru"
    n_features: int = 1  # input columns per time step
    n_targets: int = 1  # forecast columns per time step (the next step's targets)
    hidden: tuple[int, ...] = (64, 64)  # hidden size of each stacked layer, bottom to top
    dropout: float = 0.0  # dropout between recurrent layers (training only)
    norm: str = "none"  # "batch": BatchNorm1d between recurrent layers (with arch "gru": GRU-BN)
    # forward + backward layers (output 2H each); a window model with no state
    bidirectional: bool = False
    # attention pooling over time before the head (edgernn.train.attention), causal only
    attention: bool = False
    # the linear highway's lags (edgernn.train.forecast.highway; 1 = the current value); () = none
    lags: tuple[int, ...] = ()
    # where each target sits among the features (the highway reads the targets from the input)
    target_cols: tuple[int, ...] = ()
    # forecast the change since the current value (the highway adds the value back)
    delta: bool = False

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.lags = tuple(int(j) for j in self.lags)
        self.target_cols = tuple(int(c) for c in self.target_cols)
        self.bidirectional = bool(self.bidirectional)
        self.attention = bool(self.attention)
        self.delta = bool(self.delta)
        if self.arch != LINEAR and self.arch not in CELLS:
            raise ValueError(
                f"unknown arch {self.arch!r}; choose one of {', '.join((*CELLS, LINEAR))}"
            )
        if (self.lags or self.delta) and len(self.target_cols) != self.n_targets:
            raise ValueError(
                "the highway and delta targets read the targets from the inputs: give "
                "target_cols, each target's feature column"
            )
        if self.delta and not self.lags:
            raise ValueError("delta targets need the highway's ring: give lags (at least (1,))")
        if self.arch == LINEAR:
            if self.hidden or not self.lags or self.bidirectional or self.attention:
                raise ValueError(
                    "the linear arch is the highway alone: lags, and no hidden layers, "
                    "bidirectional or attention"
                )
            return
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden sizes must be positive integers, got {self.hidden}")
        if self.attention and self.bidirectional:
            raise ValueError(
                "attention pooling streams causally; it does not combine with bidirectional layers"
            )
        if self.lags and self.bidirectional:
            raise ValueError("the highway streams its lags as state; a window model has none")

    def to_dict(self) -> dict:
        return asdict(self)


class Forecaster(nn.Module):
    """Stacked RNN / LSTM / GRU layers (own sizes each), [BatchNorm1d +] dropout between,
    [attention pooling over time,] dense head, [plus the linear highway over the targets' lags
    (``edgernn.train.forecast.highway``)]. ``arch="linear"``: the highway alone."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = config
        d = 2 if config.bidirectional else 1  # a bidirectional layer outputs (B, T, 2H)
        sizes_in = (config.n_features,) + tuple(d * h for h in config.hidden[:-1])
        cell = CELLS.get(config.arch)
        self.layers = nn.ModuleList(
            cell(i, h, batch_first=True, bidirectional=config.bidirectional)
            for i, h in zip(sizes_in, config.hidden)
            if cell is not None
        )
        # BatchNorm1d over each lower layer's output channels; in eval mode a per-channel affine
        # map per step
        self.norms = (
            nn.ModuleList(nn.BatchNorm1d(d * h) for h in config.hidden[:-1])
            if config.norm == "batch"
            else None
        )
        self.drop = nn.Dropout(config.dropout)
        top = config.hidden[-1] if config.hidden else 0
        self.attn = AttentionPool(top) if config.attention else None
        self.highway = (
            Highway(config.n_features, config.target_cols, config.lags, config.delta)
            if config.lags
            else None
        )
        # with attention: [h_t, context_t]
        head_in = d * top * (2 if config.attention else 1)
        self.head = nn.Linear(head_in, config.n_targets) if self.layers else None
        if self.head is not None and self.highway is not None:
            # the network starts as a zero correction: the forecast starts as the highway's
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def causal(self) -> bool:
        """Steppable with explicit state; False for a bidirectional (window) model."""
        return not self.config.bidirectional

    @property
    def states_per_layer(self) -> int:
        if not self.causal:
            return 0
        return 2 if self.config.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden (and cell, for LSTM), then the attention pool's
        (m, s, acc), then the highway's (ring, seen); none for a window model."""
        pool = self.attn.initial_state(batch) if self.attn is not None else []
        ring = self.highway.initial_state(batch) if self.highway is not None else []
        return (
            [
                torch.zeros(1, batch, h)
                for h in self.config.hidden
                for _ in range(self.states_per_layer)
            ]
            + pool
            + ring
        )

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) in model units -> (y (B, T, n_targets), *new_states).

        Bidirectional: x is a whole window, run from zero state -> (y (B, 1, n_targets),): the
        forecast of the step after the window, from the last step of each direction."""
        if not self.causal:
            if states:
                raise ValueError(
                    "a bidirectional forecaster has no state; call it on a whole window: model(x)"
                )
            return (self._window_forward(x),)
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        new_states: list[torch.Tensor] = []
        y = None
        if self.highway is not None:
            ar, base, x, *ring = self.highway(x, *states[-2:])  # each (B, T, K); x: net input
            states, y = states[:-2], ar + base
        k = self.states_per_layer
        h = x  # (B, T, F)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.drop(self._norm(i - 1, h))
            state = states[i * k : (i + 1) * k]  # each (1, B, H_i)
            if k == 2:
                h, (hn, cn) = layer(h, (state[0], state[1]))  # (B, T, H_i)
                new_states += [hn, cn]
            else:
                h, hn = layer(h, state[0])  # (B, T, H_i)
                new_states.append(hn)
        if self.attn is not None:
            # (B, T, H): attention over steps 1..t
            context, *pool = self.attn(h, *states[len(new_states) :])
            new_states += pool
            # (B, T, 2H): the latest step and what attention picked
            h = torch.cat([h, context], dim=2)
        if self.head is not None:
            net = self.head(h)  # (B, T, n_targets)
            y = net if y is None else y + net
        if self.highway is not None:
            new_states += ring
        return (y, *new_states)

    def _norm(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """BatchNorm1d number ``i`` on (B, T, C) (channels last), or ``h`` unchanged without
        norm."""
        if self.norms is None:
            return h
        return self.norms[i](h.transpose(1, 2)).transpose(1, 2)  # BatchNorm1d wants (B, C, T)

    def _window_forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, F) -> y (B, 1, n_targets): bidirectional layers from zero state; the head sees
        the forward direction at the last step and the backward direction at the first (each has
        then read the whole window)."""
        h = x  # (B, T, F)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.drop(self._norm(i - 1, h))
            h, _ = layer(h)  # (B, T, 2H_i): [forward | backward]
        size = self.config.hidden[-1]
        last = torch.cat([h[:, -1:, :size], h[:, :1, size:]], dim=2)  # (B, 1, 2H)
        return self.head(last)  # (B, 1, n_targets)

    def state_shapes(self) -> list[tuple]:
        """Symbolic shapes for the signature: (1, "batch", H) per state tensor (none for a window
        model)."""
        pool = self.attn.state_shapes() if self.attn is not None else []
        ring = self.highway.state_shapes() if self.highway is not None else []
        return (
            [(1, "batch", h) for h in self.config.hidden for _ in range(self.states_per_layer)]
            + pool
            + ring
        )
