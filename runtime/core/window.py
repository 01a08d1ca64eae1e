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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.core.buffers import StepBuffers
from edgernn.errors import DataError, UsageError

_isfinite = math.isfinite


@dataclass(slots=True)
class WindowResult:
    """What one window-mode step gives back, in the user's units. (Slots, not frozen: a frozen
    dataclass sets each field through ``object.__setattr__``, slower on the per-step path.)"""

    step: int  # rows seen since the start (or the last reset), counting this one (1-based)
    # each target's forecast for the next step; None while warming up
    forecast: dict[str, float] | None
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
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; window_stream() runs forecasters"
            )
        self.window = int(sig.window if window is None else window)
        if self.window < 1:
            raise UsageError(
                f"{model.path.name} declares no window (signature window {sig.window}); pass window=N"
            )
        self.model = model
        self._features, self._targets = sig.features, sig.targets
        self.reset()

    def reset(self) -> None:
        """Forget every row: the next ``window`` steps warm up again."""
        sig = self.model.signature
        # (W, F) user units, oldest first
        self.rows = np.zeros((self.window, len(self._features)), dtype=np.float32)
        self.n_steps = 0
        # x and y bound once: each step is one call, no allocation
        if getattr(self, "_call", None) is None:
            # (1, W, F) model units
            self._x = np.zeros((1, self.window, len(self._features)), dtype=np.float32)
            # (1, 1 or W, n_targets): learn its shape
            y, _ = self.model.run(self._x, self.model.initial_state(1))
            self._y = np.zeros_like(y)
            b = self.model.session.io_binding()
            b.bind_cpu_input(sig.input_name, self._x)
            b.bind_output(sig.output_name, "cpu", 0, np.float32, self._y.shape, self._y.ctypes.data)
            # a causal model re-run from zero state
            self._states = [(s.zeros(1), s.zeros(1)) for s in sig.states]
            for spec, (s_in, s_out) in zip(sig.states, self._states):
                b.bind_cpu_input(spec.input, s_in)
                b.bind_output(spec.output, "cpu", 0, np.float32, s_out.shape, s_out.ctypes.data)
            self._call = StepBuffers.run_call(self.model.session, b, self.model.run_options)
            # (F,) the newest row, model units
            self._new = np.zeros(len(self._features), dtype=np.float32)
            self._new_mem = StepBuffers.flat(self._new)
            # (n_targets,) of the last step
            self._y_last = StepBuffers.flat(self._y)[-len(self._targets) :]
            self._in, self._out = sig.input_scaler, sig.target_scaler
        self._x.fill(0.0)

    @property
    def ready(self) -> bool:
        """A full window has arrived: every step now returns a forecast."""
        return self.n_steps >= self.window

    def step(self, x: Mapping[str, float] | Sequence[float] | np.ndarray) -> WindowResult:
        """Add one row (feature -> value mapping, or values in feature order); forecast once W rows are in."""
        row = self._scaled(x)  # float32 values in user units; the row in model units in self._new
        # shift both windows by one row (W is small); nothing changed before
        self.rows[:-1] = self.rows[1:]
        self.rows[-1] = row
        xs = self._x[0]  # (W, F) model units, bound to the graph's input
        xs[:-1] = xs[1:]
        xs[-1] = self._new
        self.n_steps += 1
        if not self.ready:
            return WindowResult(self.n_steps, None, True)
        self._call()  # one run over the bound window; y (1, 1 or W, n_targets) model units
        self._out.inverse_inplace(self._y_last)  # the last step's forecast, now in user units
        return WindowResult(self.n_steps, dict(zip(self._targets, self._y_last.tolist())), False)

    def _scaled(self, x: Any) -> list[float]:
        """Check and scale one row into ``self._new`` (F,); its float32 values in user units.
        The usual inputs take Python floats; anything unusual, or bad, takes ``_row``, which raises."""
        values = _fast_values(x, self._features)
        if values is not None:
            try:
                row = self._in.transform_into(values, self._new_mem)
                if _isfinite(sum(row)):
                    return row
            except (TypeError, ValueError, OverflowError):
                pass
        row = _row(x, self._features).tolist()
        self._in.transform_into(row, self._new_mem)
        return row

    def steps(
        self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray
    ) -> list[WindowResult]:
        """``step`` for each row, in order."""
        return [self.step(x) for x in xs]


def _fast_values(x: Any, features: Sequence[str]) -> Sequence | None:
    """The row's values in feature order for the usual inputs (a list, tuple, mapping or 1-D
    array of the right length); None for anything else, which takes the checked path."""
    if isinstance(x, np.ndarray):
        x = x.tolist() if x.ndim == 1 else None
    elif isinstance(x, Mapping):
        try:
            x = [x[f] for f in features]
        except KeyError:
            return None
    elif not isinstance(x, (list, tuple)):
        return None
    return x if x is not None and len(x) == len(features) else None


def _row(
    x: Mapping[str, float] | Sequence[float] | np.ndarray, features: Sequence[str]
) -> np.ndarray:
    if isinstance(x, Mapping):
        missing = [f for f in features if f not in x]
        if missing:
            raise DataError(
                f"input is missing feature(s) {', '.join(missing)}; every step needs {', '.join(features)}"
            )
        values = [x[f] for f in features]
    else:
        values = list(np.asarray(x, dtype=np.float64).reshape(-1))
    row = np.asarray(values, dtype=np.float32)
    if row.shape != (len(features),):
        raise DataError(f"expected {len(features)} values ({', '.join(features)}), got {row.size}")
    if not np.isfinite(row).all():
        raise DataError(
            "inputs contain NaN or inf; drop or fill those values before streaming them"
        )
    return row
