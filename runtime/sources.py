"""Where stream records come from: the built-in demo feed, stdin, or a file.

Every source yields ``(position, item)``: the 1-based line number (or sample number) and
either a raw text line or, for the demo, a ready mapping of field -> value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any, Iterator

from edgernn.errors import DataError
from edgernn.synth import sensor_signal

DEMO_LENGTH = 1000  # samples in the demo feed when no --limit is given
DEMO_SEED = 2024  # not the training seed: the demo is data the shipped model has not seen


def demo_records(n: int = DEMO_LENGTH, seed: int = DEMO_SEED) -> Iterator[tuple[int, dict[str, Any]]]:
    """The synthetic temperature/humidity sensor (with injected spikes and dips), as records."""
    signal = sensor_signal(n, seed=seed)
    for i in range(n):
        yield i + 1, {"timestamp": i, "temp": float(signal["temp"][i]), "humidity": float(signal["humidity"][i])}


def text_lines(handle: IO[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a text stream with their line numbers, newline stripped."""
    for n, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield n, line


def open_source(source: str) -> IO[str]:
    """A text handle for "-" (stdin) or a file path; DataError when the file cannot be read."""
    if source == "-":
        return sys.stdin
    path = Path(source)
    if not path.is_file():
        raise DataError(f"source {source!r} is not a file; pass a CSV/JSONL path, '-' for stdin, or 'demo'")
    try:
        return path.open("r", encoding="utf-8", errors="replace", newline="")
    except OSError as e:
        raise DataError(f"source {source!r} cannot be read ({e.strerror}); check its permissions") from e
