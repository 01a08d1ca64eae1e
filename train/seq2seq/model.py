"""Encoder-decoder seq2seq: embedding + LSTM encoder whose final (h, c) initialises an LSTM
decoder, dense head (softmax at decode time). Trained with teacher forcing, exported as two graphs.

Export writes ``model.onnx``, the decoder *step* graph (task "seq2seq": tokens (B, T) int64 +
(h, c) -> logits (B, T, V) + (h, c), exactly the char LM's contract) and ``model.encoder.onnx``
next to it (tokens (B, T) + zero (h, c) -> hidden (B, T, H) + final (h, c)). Both go through the
verified exporter (``export_module``, ONNX Runtime <= 1e-5 vs PyTorch). The decoder's signature
names the encoder file (``provenance["encoder"]``) and the special tokens
(``provenance["special"]``).

Token ids: 0 "<unk>" (also padding), 1 "<s>" (decoder start), 2 "</s>" (end), then characters.

>>> net = Seq2SeqNet(Seq2SeqConfig(vocab_size=13, embed=4, hidden=6))
>>> h, c = net.encode(torch.tensor([[3, 4, 5]]))
>>> logits, h, c = net.decode(torch.tensor([[BOS_ID]]), h, c)
>>> tuple(logits.shape), tuple(h.shape)
((1, 1, 13), (1, 1, 6))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgernn.errors import UsageError

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
SYNTH = "synth:reverse"


@dataclass
class Seq2SeqConfig:
    """Model size and training settings."""

    vocab_size: int = 16  # token ids in [0, vocab_size), set from the data (specials included)
    embed: int = 32  # token embedding width
    hidden: int = 64  # LSTM hidden size of the encoder and of the decoder
    shared_embedding: bool = True  # one embedding table for source and target tokens
    data: str = SYNTH  # "synth:reverse" or a two-column CSV/TSV (source, target)
    synth_pairs: int = 2000  # synth:reverse: pairs generated (train + val)
    val_frac: float = 0.1  # the pairs' last share, held out for validation
    steps: int = 1500  # optimizer steps (teacher forcing)
    batch_size: int = 64  # pairs per optimizer step
    lr: float = 5e-3  # Adam learning rate (cosine-decayed to 10% over the steps)
    clip: float = 1.0  # max gradient norm (0 = off)
    seed: int = 0  # seed for the data, numpy and torch
    quiet: bool = False  # no progress bar

    def __post_init__(self) -> None:
        for name in ("embed", "hidden", "steps", "batch_size", "synth_pairs"):
            if int(getattr(self, name)) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not 0 < self.val_frac < 1:
            raise UsageError(f"val_frac must be in (0, 1), got {self.val_frac}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _GraphConfig:
    """What the exporter reads of an exported graph's module."""

    vocab_size: int  # its inputs are token ids in [0, vocab_size)
    n_outputs: int  # the width of its output


class Seq2SeqNet(nn.Module):
    """Source ids -> encoder (h, c) -> decoder logits over the target vocabulary."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        v, e, h = config.vocab_size, config.embed, config.hidden
        self.src_embed = nn.Embedding(v, e)
        self.tgt_embed = self.src_embed if config.shared_embedding else nn.Embedding(v, e)
        self.encoder = nn.LSTM(e, h, batch_first=True)
        self.decoder = nn.LSTM(e, h, batch_first=True)
        self.head = nn.Linear(h, v)

    def zeros(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(1, batch, self.config.hidden)
        return z, z.clone()

    def encode(
        self, src: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> final (h, c) each (1, B, H); ``lengths`` reads padded rows at their last
        real step."""
        emb = self.src_embed(src)
        if lengths is not None:
            emb = nn.utils.rnn.pack_padded_sequence(
                emb, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
        _, (h, c) = self.encoder(emb, self.zeros(src.shape[0]))
        return h, c

    def decode(
        self, tgt_in: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Teacher-forced decoder: tgt_in (B, T) -> (logits (B, T, V), h, c)."""
        out, (h, c) = self.decoder(self.tgt_embed(tgt_in), (h, c))
        return self.head(out), h, c

    def forward(
        self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) of ``tgt_in`` (B, T) after encoding ``src`` (B, S)."""
        return self.decode(tgt_in, *self.encode(src, lengths))[0]

    def graphs(self) -> tuple[EncoderGraph, DecoderGraph]:
        return EncoderGraph(self), DecoderGraph(self)


class _Graph(nn.Module):
    def __init__(self, net: Seq2SeqNet, n_outputs: int):
        super().__init__()
        self.net = net
        self.config = _GraphConfig(net.config.vocab_size, n_outputs)

    def state_shapes(self) -> list[tuple]:
        return [(1, "batch", self.net.config.hidden)] * 2


class EncoderGraph(_Graph):
    """Exported encoder: tokens (B, T) + (h, c) (zeros for a fresh line) -> hidden (B, T, H),
    h, c."""

    def __init__(self, net: Seq2SeqNet):
        super().__init__(net, net.config.hidden)

    def forward(self, tokens: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, (h, c) = self.net.encoder(self.net.src_embed(tokens), (states[0], states[1]))
        return out, h, c


class DecoderGraph(_Graph):
    """Exported decoder step graph: tokens (B, T) + (h, c) -> logits (B, T, V), h, c."""

    def __init__(self, net: Seq2SeqNet):
        super().__init__(net, net.config.vocab_size)

    def forward(self, tokens: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.net.decode(tokens, states[0], states[1])
