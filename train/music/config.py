"""The settings of a music model: its size (read by ``CharLM``, the stacked LSTM it reuses)
and how it is trained. A checkpoint stores them all.

>>> cfg = MusicConfig(hidden=(8,), steps=5)
>>> cfg.data, cfg.transpose, cfg.corpus
('corpus:bach', 5, 'corpus:bach')
"""

from __future__ import annotations

from dataclasses import dataclass

from edgernn.errors import UsageError
from edgernn.train.charlm.model import CharLMConfig


@dataclass
class MusicConfig(CharLMConfig):
    """A ``CharLMConfig`` over note events instead of characters, plus the music settings."""

    arch: str = "gru"  # the recurrent layers: "lstm" or "gru"
    data: str = "corpus:bach"  # corpus:NAME (music21's corpus), a folder or a score file
    transpose: int = 5  # training pieces also shifted by +-1..+-transpose semitones
    max_vocab: int = 256  # most frequent training events kept (plus <unk> and <bos>)
    embed: int = 32  # event embedding width
    hidden: tuple[int, ...] = (128, 128)  # hidden size of each stacked LSTM layer
    window: int = 64  # events per training window
    steps: int = 1500  # optimizer steps
    val_frac: float = 0.1  # share of the pieces held out (whole pieces, never transposed)
    eval_pieces: int = 16  # pieces generated for the statistics in the report
    eval_events: int = 64  # events per generated piece

    def __post_init__(self) -> None:
        self.corpus = self.data  # the char LM's field, kept meaningful
        super().__post_init__()
        if self.arch not in ("lstm", "gru"):
            raise UsageError(f"--arch must be lstm or gru, got {self.arch!r}")
        if not 0 <= self.transpose <= 12:
            raise UsageError(
                f"--transpose must be in 0..12 semitones, got {self.transpose}; e.g. --transpose 5"
            )
