"""Train one forecaster with the product's defaults and score it by streaming, next to the
baselines on exactly the same test rows.

Training is the user's command, ``python -m edgernn train forecast --data FILE --out DIR --json``
(plus ``--timestamp timestamp`` where the CSV has dates), in a subprocess, timed. When the
defaults refuse the data (a split shorter than one 50-step window), the refusal is recorded and,
so there is still a model to look at, training is run once more with the largest ``--window``
every split can hold; that row is marked as not the defaults.

Scoring streams the exported graph: ``edgernn.load(DIR/model.onnx, provider="cpu").stream()``
steps every row in order (train, val, test) from a zero state, and the forecast returned at
step t - 1 is the one-step-ahead forecast of row t.

>>> splits(100)                  # train [0, 70), val [70, 85), test [85, 100)
(70, 85)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import quality_baselines as qb
import quality_data as qd

import edgernn

VAL_FRAC = TEST_FRAC = 0.15  # the split of `edgernn train forecast` (TrainConfig defaults)
DEFAULT_WINDOW = 50  # TrainConfig.window: the defaults need a split of at least 51 rows


@dataclass
class Training:
    """One `edgernn train forecast` run."""

    command: list[str]  # argv as run (sys.executable first)
    seconds: float  # wall time of the subprocess
    returncode: int  # its exit status
    error: str  # its last stderr line when it failed, "" otherwise
    report: dict | None  # the --json report (stdout), None when it failed


@dataclass
class SeriesResult:
    """Everything the quality table says about one series."""

    name: str  # the series (quality_data.SERIES key)
    rows: tuple[int, int, int]  # train / val / test rows
    season: int  # known season length (the baselines use it)
    season_detected: int  # from the training span's autocorrelation
    scores: dict[str, tuple[float, float]]  # forecaster -> (MAE, RMSE) on the test rows
    defaults: Training  # the run with the defaults (it may have refused the data)
    fallback: Training | None = None  # the smaller-window run, when the defaults refused
    report_mae: float | None = None  # report.json's test MAE (windows from a zero state)
    report_n: int = 0  # how many test windows report.json scored (its last rows)
    streamed_mae_same_rows: float | None = None  # streamed MAE on those same last rows
    ar: qb.SeasonalAR | None = None  # the fitted seasonal AR (known season)
    note: str = ""  # data preparation, as quality_data says
    series: dict[str, np.ndarray] = field(default_factory=dict)  # "actual" and forecasts (test)

    @property
    def trained(self) -> Training | None:
        """The run whose model was scored (the defaults, else the fallback), None if neither."""
        for t in (self.defaults, self.fallback):
            if t is not None and t.report is not None:
                return t
        return None


def splits(n: int) -> tuple[int, int]:
    """(a, b): train [0, a), val [a, b), test [b, n), as `edgernn train forecast` splits n rows."""
    from edgernn.train.forecast.windows import split_bounds

    return split_bounds(n, VAL_FRAC, TEST_FRAC)


def train(csv: Path, out: Path, timestamp: bool, window: int | None = None) -> Training:
    """Run ``edgernn train forecast`` on ``csv`` into ``out``; the report is its --json stdout."""
    cmd = [sys.executable, "-m", "edgernn", "train", "forecast"]
    cmd += ["--data", str(csv), "--out", str(out), "--json"]
    if timestamp:
        cmd += ["--timestamp", "timestamp"]
    if window is not None:
        cmd += ["--window", str(window)]
    return run_command(cmd)


def run_command(cmd: list[str], timeout: float | None = None) -> Training:
    """Run a training command (its report is its --json stdout), timed; an error is its first
    ``error:`` line on stderr (export failures add detail lines after it). Past ``timeout``
    seconds the command is stopped and that is the error."""
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - start
        return Training(cmd, seconds, -1, f"stopped by the benchmark after {seconds:.0f} s", None)
    seconds = time.perf_counter() - start
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
        lines = lines or p.stderr.strip().splitlines()[-1:] or [f"exit {p.returncode}, no message"]
        return Training(cmd, seconds, p.returncode, lines[0], None)
    return Training(cmd, seconds, 0, "", json.loads(p.stdout))


def stream_forecasts(model_path: Path, y: np.ndarray) -> np.ndarray:
    """(N,) -> (N,): pred[t] = the forecast the stream returned after stepping row t - 1."""
    stream = edgernn.load(model_path, provider="cpu").stream()
    (target,) = stream.model.signature.targets
    pred = np.full(len(y), np.nan)  # (N,)
    for t in range(len(y) - 1):
        pred[t + 1] = stream.step([float(y[t])]).forecast[target]
    return pred


def run_series(spec: qd.SeriesSpec, work: Path) -> SeriesResult:
    """Load, train (timed), stream-score and baseline one series; raises qd.Unavailable."""
    loaded = spec.load()
    y = loaded.values  # (N,)
    a, b = splits(len(y))
    csv = qd.write_csv(loaded, work / f"{spec.name}.csv")
    has_time = loaded.timestamps is not None
    defaults = train(csv, work / spec.name, has_time)
    fallback = None
    if defaults.report is None and defaults.returncode == 5:  # DataError: too few rows
        window = min(a, b - a, len(y) - b) - 1
        fallback = train(csv, work / f"{spec.name}-window{window}", has_time, window)
    ar = qb.seasonal_ar_fit(y[:a], spec.season)
    preds = {
        "naive": qb.naive(y),
        f"seasonal naive (s={spec.season})": qb.seasonal_naive(y, spec.season),
        "seasonal AR": ar.predict(y),
    }
    detected = qb.detect_season(y[:a])
    if detected != spec.season:
        preds[f"seasonal AR (s={detected}, detected)"] = qb.seasonal_ar_fit(
            y[:a], detected
        ).predict(y)
    res = SeriesResult(
        spec.name,
        (a, b - a, len(y) - b),
        spec.season,
        detected,
        {},
        defaults,
        fallback,
        ar=ar,
        note=loaded.note,
    )
    run = res.trained
    if run is not None:
        out = Path(run.command[run.command.index("--out") + 1])
        preds = {"model (streamed)": stream_forecasts(out / "model.onnx", y), **preds}
        test = run.report["metrics"]["test"]
        res.report_mae, res.report_n = float(test["mae"]), int(test["n"])
        if res.report_n:
            res.streamed_mae_same_rows = qb.errors(
                y[-res.report_n :], preds["model (streamed)"][-res.report_n :]
            )[0]
    res.scores = {k: qb.errors(y[b:], p[b:]) for k, p in preds.items()}
    res.series = {"actual": y[b:], **{k: p[b:] for k, p in preds.items()}}
    return res
