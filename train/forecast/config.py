"""Training settings for ``edgernn train forecast``: one dataclass, one comment per field.

Torch-free on purpose, so the CLI can parse and check options before PyTorch loads.

>>> cfg = TrainConfig(data="synth:sensor", hidden=(32, 16))
>>> cfg.hidden, cfg.train_frac
((32, 16), 0.7)
>>> TrainConfig(data="synth:sensor", arch="transformer")
Traceback (most recent call last):
...
edgernn.errors.UsageError: --arch 'transformer' is unknown; choose one of rnn, lstm, gru, linear
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from edgernn.calendar import check_kinds
from edgernn.errors import UsageError

ARCHS = ("rnn", "lstm", "gru", "linear")
# as edgernn.train.forecast.model.NORMS (kept here: this module is torch-free)
NORMS = ("none", "batch")
SCALERS = ("standard", "minmax")
TRAIN_MODES = ("auto", "stateful", "windows")
TARGET_MODES = ("auto", "level", "delta")


@dataclass
class TrainConfig:
    # ---- data -------------------------------------------------------------------------
    data: str  # a .csv or .npy path, or "synth:sensor[?n=20000&seed=3]"
    features: tuple[str, ...] = ()  # input columns; () = every column but key/timestamp
    targets: tuple[str, ...] = ()  # forecast columns; () = the first feature
    columns: tuple[str, ...] = ()  # names for the columns of a .npy file; () = col0..colC-1
    key: str | None = None  # column whose values name independent series (None = one series)
    timestamp: str | None = None  # column to sort each series by (numbers or ISO-8601)
    # calendar kinds (edgernn.calendar: hour, weekday, yearday) whose sin/cos, computed from the
    # --timestamp column, become the last features
    calendar: tuple[str, ...] = ()
    # time steps per training window (windows mode: the context the model learns from); 0 = auto:
    # 50, or a quarter of a short training split (edgernn.train.forecast.plan.auto_window)
    window: int = 0
    stride: int = 1  # steps between the starts of consecutive windows
    val_frac: float = 0.15  # share of each series (after train) used for validation
    test_frac: float = 0.15  # share of each series (its end) held out for the test report
    scaler: str = "standard"  # "standard" (mean, std) or "minmax" (min, max-min), fitted on train
    # season length in steps: "auto" (detected from the training split's autocorrelation),
    # "none", or a number like "24"; sets the highway's seasonal lags and the seasonal baselines
    season: str = "auto"
    # ---- model ------------------------------------------------------------------------
    arch: str = "lstm"  # recurrent cell: "rnn", "lstm" or "gru"
    hidden: tuple[int, ...] = (64, 64)  # hidden size of each stacked layer, bottom to top
    dropout: float = 0.0  # dropout between recurrent layers
    # "batch": BatchNorm1d between recurrent layers (--arch gru --norm batch: GRU-BN)
    norm: str = "none"
    # the linear highway (LSTNet): an autoregression over lags 1, 2, s, s+1 of the targets plus
    # the network's correction; its lags stream as state. Needs the targets among the features
    highway: bool = True
    # "level": forecast the value; "delta": the change since the current value (trends stay in
    # range); "auto": delta when the training split trends (see edgernn.train.forecast.season)
    target_mode: str = "auto"
    # forward + backward layers: a window model (not steppable), trained many-to-one
    bidirectional: bool = False
    # attention pooling over time before the head (its online softmax streams as state)
    attention: bool = False
    # ---- optimisation -----------------------------------------------------------------
    # "stateful": consecutive chunks of --bptt steps in contiguous lanes, the state carried from
    # chunk to chunk, as the runtime streams; "windows": shuffled windows, each from a zero state;
    # "auto": stateful for long series, windows for short ones and for a window model
    # (edgernn.train.forecast.plan.STATEFUL_ROWS says where, and why)
    train_mode: str = "auto"
    bptt: int = 50  # stateful: steps per chunk (backpropagation through time stops there)
    epochs: int = 100  # upper bound on passes over the training windows (or lanes)
    batch_size: int = 64  # windows per optimiser step (stateful: the most lanes run side by side)
    lr: float = 1e-3  # Adam learning rate at the start
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    patience: int = 10  # epochs without val improvement before stopping; 0 = never stop early
    lr_patience: int = 2  # epochs without val improvement before the lr is halved
    seed: int = 0  # seeds python, numpy and torch: same seed, same numbers
    # ---- output -----------------------------------------------------------------------
    anomaly_threshold: float = 4.0  # residual |z| the runtime flags as an anomaly by default
    out: Path = Path("runs/forecast")  # folder for checkpoint.pt, report.json/png, model.onnx
    export: bool = True  # also export out/model.onnx after training
    quiet: bool = False  # no progress bar

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.features, self.targets, self.columns = (
            tuple(self.features),
            tuple(self.targets),
            tuple(self.columns),
        )
        self.hidden = tuple(self.hidden)
        self.calendar = tuple(self.calendar)
        self.validate()

    @property
    def train_frac(self) -> float:
        """Share of each series (its start) used for training."""
        return round(1.0 - self.val_frac - self.test_frac, 10)

    @property
    def season_length(self) -> int | None:
        """The season given with --season as a number; None for "auto" / "none" (and 0 for
        anything unreadable, which ``validate`` refuses)."""
        text = str(self.season).strip().lower()
        if text in ("auto", "none"):
            return None
        try:
            return int(text)
        except ValueError:
            return 0

    def validate(self) -> None:
        """Raise UsageError naming the first bad setting and how to fix it."""
        if self.arch not in ARCHS:
            raise UsageError(f"--arch {self.arch!r} is unknown; choose one of {', '.join(ARCHS)}")
        for name, value, allowed in (
            ("--train-mode", self.train_mode, TRAIN_MODES),
            ("--target-mode", self.target_mode, TARGET_MODES),
        ):
            if value not in allowed:
                raise UsageError(f"{name} {value!r} is unknown; choose one of {', '.join(allowed)}")
        if self.season_length is not None and self.season_length < 2:
            raise UsageError(
                f"--season {self.season!r} must be auto, none, or a whole number of steps >= 2 "
                "(like 24 for hourly data with a daily cycle)"
            )
        if self.arch == "linear" and not self.highway:
            raise UsageError("--arch linear is the highway alone; drop --no-highway")
        if self.arch == "linear" and (self.bidirectional or self.attention or self.norm != "none"):
            raise UsageError(
                "--arch linear has no recurrent layers; drop --bidirectional, --attention, --norm"
            )
        if self.bidirectional and self.train_mode == "stateful":
            raise UsageError(
                "--bidirectional makes a window model with no state to carry; train it with "
                "--train-mode windows"
            )
        _at_least("--bptt", self.bptt, 2)
        if self.norm not in NORMS:
            raise UsageError(f"--norm {self.norm!r} is unknown; choose one of {', '.join(NORMS)}")
        if self.norm != "none" and len(self.hidden) < 2:
            raise UsageError(
                f"--norm {self.norm} normalises between recurrent layers; give at least two "
                "--hidden sizes, like 64,64"
            )
        if self.attention and self.bidirectional:
            raise UsageError(
                "--attention pools causally, step by step; it does not combine with "
                "--bidirectional (drop one)"
            )
        if self.scaler not in SCALERS:
            raise UsageError(
                f"--scaler {self.scaler!r} is unknown; choose one of {', '.join(SCALERS)}"
            )
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise UsageError(
                f"--hidden {self.hidden!r} must be positive integers; give layer sizes like 64,64"
            )
        check_kinds(self.calendar)
        if self.calendar and self.timestamp is None:
            raise UsageError(
                f"--calendar {','.join(self.calendar)} is computed from each row's time; "
                "name the time column with --timestamp"
            )
        _at_least("--window", self.window, 0)
        _at_least("--stride", self.stride, 1)
        _at_least("--epochs", self.epochs, 1)
        _at_least("--batch-size", self.batch_size, 1)
        _at_least("--patience", self.patience, 0)
        _at_least("--lr-patience", self.lr_patience, 0)
        for name, v in (("--val", self.val_frac), ("--test", self.test_frac)):
            if not 0.0 < v < 1.0:
                raise UsageError(f"{name} {v} must be a fraction between 0 and 1, like 0.15")
        if self.train_frac <= 0.0:
            raise UsageError(
                f"--val {self.val_frac} + --test {self.test_frac} leave nothing to train on; keep "
                "their sum below 1"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"--dropout {self.dropout} must be in [0, 1), like 0.2")
        if not self.lr > 0.0:
            raise UsageError(f"--lr {self.lr} must be positive, like 1e-3")
        if not self.clip >= 0.0:
            raise UsageError(f"--clip {self.clip} must be >= 0 (0 turns clipping off)")
        if not self.anomaly_threshold > 0.0:
            raise UsageError(
                f"--anomaly-threshold {self.anomaly_threshold} must be positive, like 4.0"
            )

    def to_dict(self) -> dict:
        """Plain JSON-able values, for the checkpoint and the report."""
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _at_least(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or value < low:
        raise UsageError(f"{name} {value!r} must be an integer >= {low}")
