"""How well a character LM predicts a text: bits per character, torch-free (``edgernn score``).

The text is streamed through the exported graph in chunks from a **fresh state** (the state
carried from chunk to chunk), and every character after the first is scored: its bits are
-log2 of the probability the model gave it after reading everything before it. The first
character has nothing before it to be predicted from, so it is read but not scored; a text of
N characters has N - 1 scored. Training windows start from a fresh state too, so this is the
setting the model was trained in. Characters outside the vocabulary are read and scored as
``<unk>`` (the probability of "some character outside the vocabulary") and counted.

>>> import edgernn
>>> model = edgernn.load(edgernn.default_model_path().with_name("char-lm.onnx"), provider="cpu")
>>> s = score_text(model, "The value of x is returned.\\nIt is None otherwise.\\n", per_line=True)
>>> s.chars, s.scored, s.unknown_chars, len(s.lines), s.lines[0].chars
(50, 49, 0, 2, 28)
>>> 0 < s.bits_per_char < 4 and abs(s.bits - sum(line.bits for line in s.lines)) < 1e-9
True
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.core.model import Model
from edgernn.errors import DataError, UsageError

CHUNK = 4096  # characters per graph call: bounds the logits buffer at CHUNK * vocab floats
LN2 = math.log(2)

# (characters scored so far, characters to score)
ProgressFn = Callable[[int, int], None]


@dataclass
class LineScore:
    """One input line's share of a score (its newline, when it has one, included)."""

    line: int  # 1-based line number
    chars: int  # characters in the line, its newline included
    scored: int  # of them scored (all but the text's very first character)
    bits: float  # -log2 p summed over the scored characters

    @property
    def bits_per_char(self) -> float | None:
        """Bits per scored character; None for a line with none scored."""
        return self.bits / self.scored if self.scored else None

    def to_dict(self) -> dict[str, Any]:
        bpc = self.bits_per_char
        return {
            "line": self.line,
            "chars": self.chars,
            "scored": self.scored,
            "bits": round(self.bits, 6),
            "bpc": None if bpc is None else round(bpc, 6),
        }


@dataclass
class Score:
    """How well a char LM predicted a text."""

    chars: int  # characters in the text
    scored: int  # characters scored: chars - 1 (the first is read, not predicted)
    bits: float  # -log2 p summed over every scored character
    unknown_chars: int  # characters outside the vocabulary (read and scored as <unk>)
    seconds: float = 0.0  # wall time of the scoring
    lines: list[LineScore] | None = field(default=None, repr=False)  # per line, when asked

    @property
    def bits_per_char(self) -> float:
        """Total bits / scored characters: the figure reported everywhere."""
        return self.bits / self.scored

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (``edgernn score --json``, ``report.json``'s ``heldout``)."""
        return {
            "bits_per_char": round(self.bits_per_char, 6),
            "bits": round(self.bits, 3),
            "chars": self.chars,
            "scored": self.scored,
            "unknown_chars": self.unknown_chars,
            "lines": None if self.lines is None else len(self.lines),
            "state": "fresh at the start of the text; its first character is read, not scored",
            "seconds": round(self.seconds, 3),
        }


def check_char_lm(model: Model) -> None:
    """UsageError naming the model's task unless it is a character LM.

    >>> import edgernn
    >>> check_char_lm(edgernn.load(provider="cpu"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edgernn.errors.UsageError: sensor-forecast.onnx is a 'forecast' model; `edgernn score` needs...
    """
    sig = model.signature
    if sig.task != "generate" or sig.tokenizer is None or sig.tokenizer.kind != "char":
        raise UsageError(
            f"{model.path.name} is a {sig.task!r} model; `edgernn score` needs a character LM "
            "(a 'generate' model from `edgernn train charlm`, or the shipped char-lm.onnx)"
        )


def read_text(name: str, what: str = "FILE") -> str:
    """The UTF-8 text of file ``name`` ("-": stdin), newlines read as training reads them
    ("\\r\\n" and "\\r" become "\\n"). DataError, naming ``what`` and the fix, when the file is
    missing, unreadable or not UTF-8.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = path.write_bytes(b"one\\r\\ntwo\\n")
    >>> read_text(str(path))
    'one\\ntwo\\n'
    """
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{what} {name!r} does not exist; pass the path of a UTF-8 text file (or - for stdin)"
        ) from None
    except IsADirectoryError:
        raise DataError(f"{what} {name!r} is a directory; pass the path of a text file") from None
    except OSError as e:
        raise DataError(
            f"{what} {name!r} cannot be read ({e.strerror}); check its permissions"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{what} {name!r} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def score_text(
    model: Model,
    text: str,
    per_line: bool = False,
    chunk: int = CHUNK,
    progress: ProgressFn | None = None,
) -> Score:
    """Score ``text`` with char LM ``model``: stream it from a fresh state, ``chunk`` characters
    per graph call, every character but the first scored. ``per_line``: also each line's share
    (``Score.lines``). ``progress(done, total)`` is called after each chunk."""
    check_char_lm(model)
    if len(text) < 2:
        raise DataError(
            f"the text has {len(text)} character(s); scoring needs at least 2 (the first is "
            "only read): pass a longer text"
        )
    if chunk < 1:
        raise UsageError(f"chunk must be >= 1, got {chunk}")
    start = time.perf_counter()
    tok = model.signature.tokenizer
    assert tok is not None  # check_char_lm
    unk = tok.vocab.index(tok.unk)
    ids = np.array(tok.encode(text), dtype=np.int64)  # (N,)
    n = len(ids)
    line_of = _line_numbers(text) if per_line else None  # (N,) 0-based line of each character
    line_bits = np.zeros(int(line_of[-1]) + 1 if line_of is not None else 0)  # (L,)
    states = model.initial_state(1)
    total = 0.0
    for i in range(0, n - 1, chunk):
        x = ids[i : min(i + chunk, n - 1)][None, :]  # (1, C) inputs
        target = ids[i + 1 : i + 1 + x.shape[1]]  # (C,) the character after each input
        logits, states = model.run(x, states)  # (1, C, V)
        bits = _bits(logits[0], target)  # (C,)
        total += float(bits.sum())
        if line_of is not None:
            np.add.at(line_bits, line_of[i + 1 : i + 1 + len(target)], bits)
        if progress is not None:
            progress(i + len(target), n - 1)
    lines = None
    if line_of is not None:
        chars = np.bincount(line_of)  # (L,)
        scored = chars.copy()
        scored[0] -= 1  # the text's first character is not scored
        lines = [
            LineScore(k + 1, int(c), int(s), float(b))
            for k, (c, s, b) in enumerate(zip(chars, scored, line_bits))
        ]
    return Score(
        chars=n,
        scored=n - 1,
        bits=total,
        unknown_chars=int(np.count_nonzero(ids == unk)),
        seconds=time.perf_counter() - start,
        lines=lines,
    )


def _bits(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """-log2 softmax(logits)[target] per row: logits (C, V), target (C,) -> (C,) float64."""
    z = logits.astype(np.float64)  # (C, V)
    top = z.max(axis=1)  # (C,)
    log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))  # (C,)
    result: np.ndarray = (log_norm - z[np.arange(len(target)), target]) / LN2
    return result


def _line_numbers(text: str) -> np.ndarray:
    """(N,) int64: the 0-based line of each character; a newline belongs to the line it ends."""
    newline = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == 10  # (N,)
    line: np.ndarray = np.cumsum(newline) - newline  # (N,)
    return line
