"""Sequence classification: an RNN / LSTM / GRU that emits running class logits after every step.

``Classifier.forward(x, *states)`` follows the streaming contract of ``Forecaster``: the state
goes in and comes out as plain tensors, so the exporter turns each into ``state_in.N`` /
``state_out.N``. The output at step t is the classification of the sequence seen so far;
training reads it at each sequence's last real step. Inputs are sensor features (B, T, F)
in model units, or token ids (B, T) int64 for text (``config.vocab_size`` > 0).

>>> net = Classifier(ClassifierConfig(arch="gru", n_features=2, hidden=(4,), n_classes=3))
>>> logits, h = net(torch.zeros(5, 7, 2))
>>> tuple(logits.shape), tuple(h.shape)
((5, 7, 3), (1, 5, 4))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgernn.errors import DataError, UsageError
from edgernn.train.attention import AttentionPool
from edgernn.train.cells import CELLS
from edgernn.train.classify.peak import MaxPool
from edgernn.train.classify.tcn import TemporalConv

ARCHS = (*CELLS, "tcn")  # what --arch takes


@dataclass
class ClassifierConfig:
    """Model size of a sequence classifier."""

    # "rnn" (tanh), "lstm" or "gru" cells, or "tcn": causal dilated convolutions
    # (edgernn.train.classify.tcn), one layer per ``hidden`` entry
    arch: str = "lstm"
    n_features: int = 1  # sensor: input columns per step (ignored for text)
    # text: token ids in [0, vocab_size), "<unk>" = 0 included; 0 = sensor model
    vocab_size: int = 0
    embed: int = 32  # text: token embedding width
    hidden: tuple[int, ...] = (64,)  # hidden size of each stacked recurrent layer, bottom to top
    n_classes: int = 2  # classes (logits per step)
    dropout: float = 0.0  # dropout between recurrent layers and before the head (training only)
    # attention pooling over the steps so far before the head (online softmax as state)
    attention: bool = False
    # max pooling over the steps so far before the head (running maximum as state;
    # edgernn.train.classify.peak)
    max_pool: bool = False
    kernel: int = 3  # tcn: convolution width (layer i dilates by 2**i)
    # networks of this size trained apart whose probabilities are averaged
    # (edgernn.train.classify.ensemble); 1 = one network
    members: int = 1

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.arch not in ARCHS:
            raise UsageError(f"unknown --arch {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.members < 1:
            raise UsageError(f"--members must be >= 1, got {self.members}")
        if self.kernel < 2:
            raise UsageError(f"--kernel must be >= 2, got {self.kernel}")
        if not self.hidden or min(self.hidden) < 1 or self.embed < 1 or self.n_features < 1:
            raise UsageError(
                f"--hidden and --embed must be positive, got {self.hidden} and {self.embed}"
            )
        if self.n_classes < 2:
            raise DataError(f"classification needs at least 2 classes, got {self.n_classes}")

    @property
    def pooling(self) -> str:
        """What the head sees besides the latest step, as ``arch`` strings show it."""
        return "".join(
            name
            for name, on in ((" + attention", self.attention), (" + max pool", self.max_pool))
            if on
        )

    @property
    def n_targets(
        self,
    ) -> int:  # the graph's output width, as parity.io_shapes reads it for feature models
        return self.n_classes

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(nn.Module):
    """[Embedding] + stacked RNN / LSTM / GRU layers or a temporal CNN [+ attention pooling]
    [+ max pooling] + linear head on every step."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        first = config.embed if config.vocab_size else config.n_features
        self.embed = nn.Embedding(config.vocab_size, config.embed) if config.vocab_size else None
        sizes_in = (first,) + config.hidden[:-1]
        self.tcn = (
            TemporalConv(first, config.hidden, config.kernel) if config.arch == "tcn" else None
        )
        self.layers = nn.ModuleList(
            []
            if self.tcn is not None
            else (
                CELLS[config.arch](i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden)
            )
        )
        self.drop = nn.Dropout(config.dropout)
        self.attn = AttentionPool(config.hidden[-1]) if config.attention else None
        self.peak = MaxPool(config.hidden[-1]) if config.max_pool else None
        # [h_t, context_t, peak_t]
        widths = 1 + config.attention + config.max_pool
        self.head = nn.Linear(config.hidden[-1] * widths, config.n_classes)

    @property
    def states_per_layer(self) -> int:
        return 2 if self.config.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden (and cell, for LSTM) or, for tcn, (1, B, K,
        C_in) input history; then the attention pool's, then the max pool's."""
        pool = self.attn.initial_state(batch) if self.attn is not None else []
        pool += self.peak.initial_state(batch) if self.peak is not None else []
        if self.tcn is not None:
            return self.tcn.initial_state(batch) + pool
        return [
            torch.zeros(1, batch, h)
            for h in self.config.hidden
            for _ in range(self.states_per_layer)
        ] + pool

    def state_shapes(self) -> list[tuple]:
        pool = self.attn.state_shapes() if self.attn is not None else []
        pool += self.peak.state_shapes() if self.peak is not None else []
        if self.tcn is not None:
            return self.tcn.state_shapes() + pool
        return [
            (1, "batch", h) for h in self.config.hidden for _ in range(self.states_per_layer)
        ] + pool

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) model units or (B, T) int64 ids -> (logits (B, T, C), *new_states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        h = self.embed(x) if self.embed is not None else x
        k = self.states_per_layer
        new_states: list[torch.Tensor] = []
        if self.tcn is not None:
            h, *new_states = self.tcn(h, *states[: len(self.config.hidden)])  # (B, T, H)
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.drop(h)
            if k == 2:
                h, (hn, cn) = layer(h, (states[2 * i], states[2 * i + 1]))
                new_states += [hn, cn]
            else:
                h, hn = layer(h, states[i])
                new_states.append(hn)
        pooled = [h]  # (B, T, H) each: the latest step, [attention context], [running max]
        if self.attn is not None:
            context, *pool = self.attn(h, *states[len(new_states) : len(new_states) + 3])
            new_states += pool
            pooled.append(context)
        if self.peak is not None:
            peak, *pool = self.peak(h, *states[len(new_states) :])
            new_states += pool
            pooled.append(peak)
        return (self.head(self.drop(torch.cat(pooled, dim=2))), *new_states)
