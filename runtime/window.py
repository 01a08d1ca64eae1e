"""Window mode: run a model that cannot be stepped (a bidirectional forecaster) on a live feed.

A window model has no recurrent state: its graph reads a whole window of ``signature.window``
rows and forecasts the value after it. ``WindowStream`` keeps the last W rows (user units)
and, once it has W, re-runs the graph over them at every step: W times the work of a causal
step, but the same answer a batch prediction on that window gives.

>>> import edgernn  # doctest: +SKIP
>>> ws = edgernn.load("bilstm.onnx").window_stream()  # doctest: +SKIP
>>> ws.step({"temp": 20.1}).warming_up  # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from edgernn.errors import DataError, UsageError


@dataclass(frozen=True)
class WindowResult:
    """What one window-mode step gives back, in the user's units."""

    step: int  # rows seen since the start (or the last reset), counting this one (1-based)
    forecast: dict[str, float] | None  # each target's forecast for the next step; None while warming up
    warming_up: bool  # True until ``window`` rows have arrived (no forecast yet)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "forecast": self.forecast, "warming_up": self.warming_up}


class WindowStream:
    """The last ``window`` rows of one series, re-run through the graph at every step.

    Cheap to create; never shared between threads. Works for any forecast model whose
    signature declares a window (a causal model re-run this way forgets what lies before it)."""

    def __init__(self, model, window: int | None = None):
        sig = model.signature
        if sig.task != "forecast":
            raise UsageError(f"{model.path.name} is a {sig.task!r} model; window_stream() runs forecasters")
        self.window = int(sig.window if window is None else window)
        if self.window < 1:
            raise UsageError(f"{model.path.name} declares no window (signature window {sig.window}); pass window=N")
        self.model = model
        self._features, self._targets = sig.features, sig.targets
        self.reset()

    def reset(self) -> None:
        """Forget every row: the next ``window`` steps warm up again."""
        self.rows = np.zeros((self.window, len(self._features)), dtype=np.float32)  # (W, F) user units, oldest first
        self.n_steps = 0

    @property
    def ready(self) -> bool:
        """A full window has arrived: every step now returns a forecast."""
        return self.n_steps >= self.window

    def step(self, x: Mapping[str, float] | Sequence[float] | np.ndarray) -> WindowResult:
        """Add one row (feature -> value mapping, or values in feature order); forecast once W rows are in."""
        row = _row(x, self._features)
        self.rows[:-1] = self.rows[1:]  # shift the window by one row (W is small)
        self.rows[-1] = row
        self.n_steps += 1
        if not self.ready:
            return WindowResult(self.n_steps, None, True)
        sig = self.model.signature
        x = sig.input_scaler.transform(self.rows)[None]  # (1, W, F) model units
        y, _ = self.model.run(x, self.model.initial_state(1))  # y (1, 1 or W, n_targets); no states: a window model
        pred = sig.target_scaler.inverse(y[0, -1])  # (n_targets,) user units
        return WindowResult(self.n_steps, {t: float(v) for t, v in zip(self._targets, pred)}, False)

    def steps(self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray) -> list[WindowResult]:
        """``step`` for each row, in order."""
        return [self.step(x) for x in xs]


def _row(x: Mapping[str, float] | Sequence[float] | np.ndarray, features: Sequence[str]) -> np.ndarray:
    if isinstance(x, Mapping):
        missing = [f for f in features if f not in x]
        if missing:
            raise DataError(f"input is missing feature(s) {', '.join(missing)}; every step needs {', '.join(features)}")
        values = [x[f] for f in features]
    else:
        values = list(np.asarray(x, dtype=np.float64).reshape(-1))
    row = np.asarray(values, dtype=np.float32)
    if row.shape != (len(features),):
        raise DataError(f"expected {len(features)} values ({', '.join(features)}), got {row.size}")
    if not np.isfinite(row).all():
        raise DataError("inputs contain NaN or inf; drop or fill those values before streaming them")
    return row
