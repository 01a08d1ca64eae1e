"""The tagger: word embeddings plus a character CNN (unknown words still carry their shape and
affixes), a BiLSTM (or a forward-only LSTM for streaming), linear emissions, and a CRF.

``forward`` returns the emissions only, which is what is exported: the bidirectional graph
reads a whole sentence, ``words`` (B, T) and ``chars`` (B, T, L) int64, and returns
``emissions`` (B, T, K); the streaming graph also takes and returns the LSTM state, so it runs
one token at a time. The CRF's scores travel in the signature; decoding runs in numpy.

>>> net = TagModel(TagConfig(vocab_size=10, n_chars=8, n_tags=5, hidden=6, embed=4,
...                          char_embed=3, char_filters=4))
>>> net(torch.zeros(2, 7, dtype=torch.long), torch.zeros(2, 7, 16, dtype=torch.long))[0].shape
torch.Size([2, 7, 5])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from edgernn.errors import UsageError
from edgernn.train.tag.crf import CRF


@dataclass
class TagConfig:
    """Model size of a tagger."""

    vocab_size: int  # word ids, padding (0) and <unk> (1) included
    n_chars: int  # char ids, padding (0) and <unk> (1) included
    n_tags: int  # IOB2 tags
    embed: int = 50  # word embedding width
    char_embed: int = 24  # character embedding width
    char_filters: int = 48  # character CNN filters (the char encoder's output width)
    hidden: int = 64  # LSTM hidden size per direction
    bidirectional: bool = True  # False: the streaming tagger (forward LSTM, stepped state)
    dropout: float = 0.3  # before and after the LSTM (training only)
    max_chars: int = 16  # characters per word the graph reads (longer: its first and last 8)

    def __post_init__(self) -> None:
        if min(self.embed, self.char_embed, self.char_filters, self.hidden) < 1:
            raise UsageError("--embed, --char-embed, --char-filters and --hidden must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


class TagModel(nn.Module):
    """Emissions of every token; ``crf`` scores paths over them."""

    def __init__(
        self,
        config: TagConfig,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
    ):
        super().__init__()
        self.config = c = config
        self.words = nn.Embedding(c.vocab_size, c.embed, padding_idx=0)
        self.chars = nn.Embedding(c.n_chars, c.char_embed, padding_idx=0)
        self.conv = nn.Conv1d(c.char_embed, c.char_filters, kernel_size=3, padding=1)
        self.lstm = nn.LSTM(
            c.embed + c.char_filters, c.hidden, batch_first=True, bidirectional=c.bidirectional
        )
        self.drop = nn.Dropout(c.dropout)
        self.emit = nn.Linear(c.hidden * (2 if c.bidirectional else 1), c.n_tags)
        self.crf = CRF(c.n_tags, allowed, allowed_start)

    def state_shapes(self) -> list[tuple]:
        """The streaming graph's states: LSTM hidden and cell, (1, batch, H) each."""
        return [] if self.config.bidirectional else [(1, "batch", self.config.hidden)] * 2

    def features(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        """(B, T) word ids and (B, T, L) char ids -> (B, T, E + F) token features. Padding
        chars (id 0) embed to zero and are masked out of the max, so a word's features do not
        depend on L."""
        b, t, n = chars.shape
        c = self.chars(chars.reshape(b * t, n)).transpose(1, 2)  # (BT, E, L)
        conv = torch.relu(self.conv(c))  # (BT, F, L)
        real = (chars.reshape(b * t, 1, n) > 0).to(conv.dtype)  # (BT, 1, L)
        pooled = (conv * real).max(dim=2).values.reshape(b, t, -1)  # (B, T, F)
        return torch.cat([self.words(words), pooled], dim=2)

    def forward(
        self, words: torch.Tensor, chars: torch.Tensor, *states: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Emissions (B, T, K) of whole, unpadded sentences (plus the new state when
        streaming)."""
        x = self.drop(self.features(words, chars))
        if self.config.bidirectional:
            h, _ = self.lstm(x)
            return (self.emit(self.drop(h)),)
        if not states:
            zero = torch.zeros(1, words.shape[0], self.config.hidden)
            states = (zero, zero)
        h, (hn, cn) = self.lstm(x, (states[0], states[1]))
        return self.emit(self.drop(h)), hn, cn

    def padded(
        self, words: torch.Tensor, chars: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Emissions (B, T, K) of a padded batch (``lengths`` real tokens each): the LSTM runs
        on packed sequences, so padding never changes a real token's emissions."""
        x = self.drop(self.features(words, chars))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=words.shape[1])
        return self.emit(self.drop(h))
