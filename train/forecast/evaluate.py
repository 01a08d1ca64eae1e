"""The report's numbers, as streaming gives them: the exported graph run by the runtime.

Every series is streamed from its first row with ``edgernn.load(...).stream()`` (a window model:
``window_stream()``), exactly as ``edgernn stream`` runs it: one state per series, carried
forever. Row ``i``'s forecast is the one made at row ``i - 1``; a split's figure scores every
one of its rows (the state warmed up on everything before). The baselines (naive, seasonal
naive, seasonal autoregression) forecast the very same rows. Rows too early for the seasonal
baselines (the first ``s + 1`` of a series) are left out of every figure alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import edgernn
from edgernn.train.forecast.report import metrics
from edgernn.train.forecast.season import Baselines
from edgernn.train.forecast.windows import PARTS, Dataset


@dataclass
class Streamed:
    """What streaming the exported model over every series gave."""

    forecasts: list[np.ndarray]  # per series (N, K): row i's forecast (NaN where none), user units
    baselines: Baselines  # fitted on the training rows
    scores: dict  # split -> metrics of the model's forecasts
    baseline_scores: dict  # baseline name -> split -> metrics, on the same rows
    rows: dict  # split -> rows scored


def stream_forecasts(path: Path, data: Dataset) -> list[np.ndarray]:
    """Each series streamed through the exported model at ``path``: (N, K) per series, row i's
    forecast made at row i - 1 (row 0: NaN), user units."""
    model = edgernn.load(path, provider="cpu")
    out = []
    for s in data.series:
        preds = np.full(s.y.shape, np.nan)
        if model.signature.causal:
            results = model.stream().steps(s.x)
        else:
            stream = model.window_stream()
            results = [stream.step(row) for row in s.x]
        for i, r in enumerate(results[:-1]):
            if r.forecast is not None:
                preds[i + 1] = [r.forecast[t] for t in data.targets]
        out.append(preds)
    return out


def score(data: Dataset, forecasts: Sequence[np.ndarray]) -> Streamed:
    """Model and baselines on each split's rows, in the user's units."""
    plan = data.plan
    season = plan.season if plan is not None else None
    base = Baselines.fit([s.y[: b[0]] for s, b in zip(data.series, data.bounds)], season)
    named = {
        "naive_last_value": base.naive,
        "seasonal_naive": base.seasonal_naive,
        "seasonal_ar": base.seasonal_ar,
    }
    picks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {p: [] for p in PARTS}
    extra: dict[str, dict[str, list]] = {n: {p: [] for p in PARTS} for n in named}
    for s, (a, b), f in zip(data.series, data.bounds, forecasts):
        guesses = {n: fn(s.y) for n, fn in named.items()}
        for p, (lo, hi) in zip(PARTS, ((0, a), (a, b), (b, len(s.y)))):
            rows = np.arange(max(lo, base.first), hi)
            rows = rows[np.isfinite(f[rows]).all(axis=1)]
            picks[p].append((f[rows], s.y[rows]))
            for n in named:
                extra[n][p].append(guesses[n][rows])
    scores, baseline_scores, counts = {}, {n: {} for n in named}, {}
    for p in PARTS:
        pred = np.concatenate([f for f, _ in picks[p]])
        actual = np.concatenate([y for _, y in picks[p]])
        counts[p] = len(actual)
        scores[p] = metrics(pred, actual, data.targets)
        for n in named:
            baseline_scores[n][p] = metrics(np.concatenate(extra[n][p]), actual, data.targets)
    return Streamed(list(forecasts), base, scores, baseline_scores, counts)
