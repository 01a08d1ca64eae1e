"""Character-level language model: embedding + stacked LSTM + linear head.

``CharLM.forward(tokens, *states)`` takes the recurrent state as plain tensors and returns
the new state next to the logits, the same streaming contract as ``Forecaster``: the
exporter turns each state into ``state_in.N`` / ``state_out.N``. ``CharLMConfig`` also holds
the training settings (``edgernn.train.charlm.train``); a checkpoint stores them all.

>>> net = CharLM(CharLMConfig(vocab_size=10, hidden=(6, 4), embed=3))
>>> logits, *states = net(torch.zeros(2, 5, dtype=torch.int64))
>>> tuple(logits.shape), [tuple(s.shape) for s in states]
((2, 5, 10), [(1, 2, 6), (1, 2, 6), (1, 2, 4), (1, 2, 4)])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgernn.errors import UsageError


@dataclass
class CharLMConfig:
    """Model size and training settings of a character LM."""

    vocab_size: int = 97  # token ids in [0, vocab_size), "<unk>" included (set from the corpus)
    embed: int = 64  # embedding width
    hidden: tuple[int, ...] = (192, 192)  # hidden size of each stacked LSTM layer, bottom to top
    corpus: str = "pydoc"  # "pydoc" (pydoc_data.topics) or the path of a UTF-8 text file
    max_vocab: int = 96  # most frequent training characters kept (plus "<unk>")
    window: int = 64  # characters per training window
    val_frac: float = 0.1  # the text's contiguous last share, held out (never trained on)
    steps: int = 3500  # optimizer steps
    batch_size: int = 32  # windows per optimizer step
    lr: float = 2e-3  # Adam learning rate (cosine-decayed to 10% over the steps)
    clip: float = 1.0  # max gradient norm (0 = off)
    eval_windows: int = 64  # validation windows (batches of batch_size) for the final val loss
    seed: int = 0  # seed for numpy and torch
    quiet: bool = False  # no progress bar

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) < 1 or self.embed < 1:
            raise UsageError(
                f"--hidden and --embed must be positive, got {self.hidden} and {self.embed}"
            )
        for name in ("window", "steps", "batch_size", "max_vocab"):
            if getattr(self, name) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 < self.val_frac < 1:
            raise UsageError(f"--val must be in (0, 1), got {self.val_frac}; e.g. --val 0.1")

    def to_dict(self) -> dict:
        return asdict(self)


class CharLM(nn.Module):
    """Token ids -> next-token logits, with explicit LSTM state per layer (h, c)."""

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        sizes_in = (config.embed,) + config.hidden[:-1]
        self.layers = nn.ModuleList(
            nn.LSTM(i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden)
        )
        self.head = nn.Linear(config.hidden[-1], config.vocab_size)

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden then cell."""
        return [torch.zeros(1, batch, h) for h in self.config.hidden for _ in range(2)]

    def state_shapes(self) -> list[tuple]:
        """Symbolic state shapes, e.g. (1, "batch", 256), in graph order."""
        return [(1, "batch", h) for h in self.config.hidden for _ in range(2)]

    def forward(self, tokens: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """tokens: (B, T) int64 -> (logits (B, T, V), *new_states)."""
        if not states:
            states = tuple(self.initial_state(tokens.shape[0]))
        h = self.embed(tokens)  # (B, T, E)
        new_states: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            h, (hn, cn) = layer(h, (states[2 * i], states[2 * i + 1]))  # (B, T, H)
            new_states += [hn, cn]
        return (self.head(h), *new_states)  # (B, T, V)
