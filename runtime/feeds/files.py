"""Where stream records come from: the built-in demo feed, stdin, or a file.

Every source yields ``(position, item)``: the 1-based line number (or sample number) and
either a raw text line or, for the demo, a ready mapping of field -> value.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgernn.errors import DataError
from edgernn.feeds.synth import sensor_blocks

DEMO_LENGTH = 1000  # samples in the demo feed when no --limit is given
BOM = "\ufeff"  # a UTF-8 byte order mark, as some editors start a file with
DEMO_SEED = 2024  # not the training seed: the demo is data the shipped model has not seen


def demo_signal(n: int = DEMO_LENGTH, seed: int = DEMO_SEED) -> dict[str, np.ndarray]:
    """The demo feed's first ``n`` samples as arrays: temp, humidity, anomaly (where a spike or
    dip was injected). Prefix-stable: sample i is the same whatever ``n`` is."""
    blocks = sensor_blocks(seed, block=DEMO_LENGTH)
    parts = [next(blocks) for _ in range(max(1, -(-n // DEMO_LENGTH)))]
    return {c: np.concatenate([p[c] for p in parts])[:n] for c in parts[0]}


def demo_records(
    n: int = DEMO_LENGTH, seed: int = DEMO_SEED
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The synthetic temperature/humidity sensor (with injected spikes and dips), as records:
    the first ``n`` of one endless feed, so ``--limit`` cuts it and never changes it."""
    i = 0
    for block in sensor_blocks(seed, block=DEMO_LENGTH):
        for temp, humidity in zip(block["temp"].tolist(), block["humidity"].tolist()):
            if i >= n:
                return
            yield i + 1, {"timestamp": i, "temp": temp, "humidity": humidity}
            i += 1


def text_lines(handle: IO[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a text stream with their line numbers, newline and a leading UTF-8
    byte order mark stripped.

    >>> list(text_lines(io.StringIO("\\ufefftemp,humidity\\r\\n\\n1,2\\n")))
    [(1, 'temp,humidity'), (3, '1,2')]
    """
    for n, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if n == 1:
            line = line.removeprefix(BOM)
        if line.strip():
            yield n, line


def open_source(source: str) -> IO[str]:
    """A text handle for "-" (stdin) or a file path; DataError when the file cannot be read."""
    if source == "-":
        _tolerant(sys.stdin)
        return sys.stdin
    path = Path(source)
    if not path.is_file():
        raise DataError(
            f"source {source!r} is not a file; pass a CSV/JSONL path, '-' for stdin, or 'demo'"
        )
    try:
        return path.open("r", encoding="utf-8", errors="surrogateescape", newline="")
    except OSError as e:
        raise DataError(
            f"source {source!r} cannot be read ({e.strerror}); check its permissions"
        ) from e


def _tolerant(handle: IO[str]) -> None:
    """Read stdin like a file (``open_source``): undecodable bytes become lone surrogates
    (``surrogateescape``: that line is a bad record, not the end of the stream, and two
    different bad byte strings stay different), and a lone \\r ends a line."""
    if isinstance(handle, io.TextIOWrapper):
        try:
            handle.reconfigure(errors="surrogateescape", newline="")
        except (ValueError, io.UnsupportedOperation):  # already read from: left as it is
            pass
