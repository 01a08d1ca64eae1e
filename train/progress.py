"""What training says while it runs, on stderr: a first line with what is about to be trained,
then progress that suits where stderr goes.

- **first line** (``start_line``, printed by ``show_start``): the data (rows, series), the
  training examples, the model (its parameter count) and the device, before the first epoch or
  step, so a log says at once what the run is doing.
- **progress** (``Progress``): on a terminal a tqdm bar redrawn in place (and a per-batch bar
  in epoch mode); in a log (stderr not a terminal) one plain line per epoch, or one line every
  ``log_every(steps)`` steps (about 20 lines a run), never a carriage-return frame. Each line:
  epoch or step / total, the losses, the lr, the time elapsed and the ETA.
- ``quiet``: nothing at all.

>>> line = start_line("seq2seq", torch.nn.Linear(3, 2), rows=100, examples=90,
...                   rows_unit="pairs", examples_unit="pairs", arch="lstm 3",
...                   plan="50 steps of 8 pairs")
>>> print(*line.split("; "), sep=";\\n")
train seq2seq: 100 pairs -> 90 training pairs;
lstm 3 (8 parameters) on cpu, 50 steps of 8 pairs
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

LOG_LINES = 20  # step mode: about this many lines per run in a log


def start_line(
    task: str,
    model: nn.Module,
    *,
    rows: int,
    examples: int,
    arch: str,
    plan: str,
    series: int | None = None,
    rows_unit: str = "rows",
    series_unit: str = "series",
    examples_unit: str = "windows",
) -> str:
    """The first line of ``edgernn train TASK``: what the data is, what is trained on it and
    where. ``series`` (None: not shown) counts independent series or sequences; ``plan`` says
    how long training may take ("up to 30 epochs", "2,000 steps of 32 windows").

    >>> line = start_line("forecast", torch.nn.LSTM(2, 4), rows=12000, series=3, examples=8400,
    ...                   arch="lstm 4", plan="up to 30 epochs")
    >>> print(*line.split("; "), sep=";\\n")
    train forecast: 12,000 rows in 3 series -> 8,400 training windows;
    lstm 4 (128 parameters) on cpu, up to 30 epochs
    """
    data = f"{rows:,} {rows_unit}"
    if series is not None:
        data += f" in {series:,} {series_unit}"
    return (
        f"train {task}: {data} -> {examples:,} training {examples_unit}; {arch} "
        f"({parameters(model):,} parameters) on {device(model)}, {plan}"
    )


def show_start(line: str, quiet: bool) -> None:
    """Print the first line (``start_line``) on stderr, unless ``quiet``.

    >>> show_start("train forecast: ...", quiet=True)  # nothing
    """
    if not quiet:
        print(line, file=sys.stderr, flush=True)


def parameters(model: nn.Module) -> int:
    """How many numbers the model learns.

    >>> parameters(torch.nn.Linear(3, 2))  # 3 x 2 weights + 2 biases
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def device(model: nn.Module) -> str:
    """Where the model's parameters live: "cpu", "cuda", ...

    >>> device(torch.nn.Linear(3, 2))
    'cpu'
    """
    first = next(model.parameters(), None)
    return first.device.type if first is not None else torch.device("cpu").type


def log_every(total: int) -> int:
    """Steps between two lines in a log, so that a run prints about ``LOG_LINES`` lines.

    >>> log_every(2000), log_every(30), log_every(5)
    (100, 2, 1)
    """
    return max(1, math.ceil(total / LOG_LINES))


def clock(seconds: float) -> str:
    """A short duration for a progress line.

    >>> clock(4.25), clock(188), clock(7380)
    ('4.2s', '3m08s', '2h03m')
    """
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_line(unit: str, done: int, total: int, numbers: dict[str, str], elapsed: float) -> str:
    """One line of progress in a log: where training is, its numbers, the time elapsed and the
    ETA (every remaining epoch or step at the pace so far; early stopping may end sooner).

    >>> progress_line("epoch", 2, 30, {"train": "0.12", "val": "0.34", "lr": "0.001"}, 6.0)
    'epoch 2/30: train 0.12, val 0.34, lr 0.001; 6.0s elapsed, ETA 1m24s'
    """
    shown = ", ".join(f"{k} {v}" for k, v in numbers.items())
    eta = elapsed / max(done, 1) * (total - done)
    return f"{unit} {done}/{total}: {shown}; {clock(elapsed)} elapsed, ETA {clock(eta)}"


class Progress:
    """The progress of one training loop over ``total`` epochs or steps, on stderr: a tqdm bar
    on a terminal; in a log a ``progress_line`` for every ``every``-th one and the last; nothing
    when ``quiet``. Call ``update`` once per epoch or step, ``close`` at the end.

    >>> p = Progress("step", 3, "train", quiet=True)
    >>> for step in range(1, 4):
    ...     p.update(step, {"loss": "0.5"})
    >>> p.close()
    """

    def __init__(self, unit: str, total: int, desc: str, quiet: bool, every: int = 1):
        self.unit, self.total, self.every = unit, total, every
        self.live = not quiet and is_terminal()  # a bar redrawn in place
        self.lines = not quiet and not self.live  # plain lines (a log)
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not self.live)

    def batches(self, items: range) -> Iterable[int]:
        """``items`` (batch starts), with a bar that goes once they are done on a terminal."""
        if not self.live:
            return items
        return tqdm(items, desc="batches", unit="batch", leave=False, file=sys.stderr)

    def update(self, done: int, numbers: dict[str, str]) -> None:
        """``done`` epochs or steps are over; ``numbers`` are its losses and lr, as shown."""
        self.bar.set_postfix(numbers, refresh=False)
        self.bar.update(1)
        if self.lines and (done % self.every == 0 or done == self.total):
            elapsed = time.perf_counter() - self.start
            print(
                progress_line(self.unit, done, self.total, numbers, elapsed),
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()


def is_terminal() -> bool:
    """Whether stderr is a terminal (else a log, a pipe or a test's capture)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
