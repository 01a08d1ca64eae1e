"""Window mode: run a model that cannot be stepped (a bidirectional forecaster) on a live feed.

A window model has no recurrent state: its graph reads a whole window of ``signature.window``
rows and forecasts the value after it. ``WindowStream`` keeps the last W rows (user units)
and, once it has W, re-runs the graph over them at every step: W times the work of a causal
step, but the same answer a batch prediction on that window gives. A window model's
``model.window_stream()`` takes the window its signature declares; any other forecaster runs
too, given ``window=N`` (re-run this way it forgets what lies before the window):

>>> import edgernn
>>> ws = edgernn.load(provider="cpu").window_stream(window=3)
>>> [ws.step({"temp": t, "humidity": 55.0}).warming_up for t in (20.1, 20.3, 20.2)]
[True, True, False]
>>> sorted(ws.step([20.4, 55.0]).forecast), ws.n_steps
(['temp'], 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.core.binding import run_call
from edgernn.core.protocols import LoadedModel
from edgernn.core.rows import Row, checked_row, fast_values
from edgernn.core.views import flat
from edgernn.errors import UsageError

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

    def __init__(self, model: LoadedModel, window: int | None = None):
        sig = model.signature
        if sig.task != "forecast":
            raise UsageError(
                f"{model.path.name} is a {sig.task!r} model; window_stream() runs forecasters"
            )
        self.window = int(sig.window if window is None else window)
        if self.window < 1:
            raise UsageError(
                f"{model.path.name} declares no window (signature window {sig.window}); "
                "pass window=N"
            )
        self.model = model
        self._features, self._targets = sig.features, sig.targets
        self._in, self._out = sig.input_scaler, sig.target_scaler
        self._bind()
        self.reset()

    def _bind(self) -> None:
        """x and y bound once: each step is one graph call, with no allocation."""
        sig, model = self.model.signature, self.model
        # (1, W, F) model units
        self._x = np.zeros((1, self.window, len(self._features)), dtype=np.float32)
        # (1, 1 or W, n_targets): learn its shape
        y, _ = model.run(self._x, model.initial_state(1))
        self._y = np.zeros_like(y)
        b = model.session.io_binding()
        b.bind_cpu_input(sig.input_name, self._x)
        b.bind_output(sig.output_name, "cpu", 0, np.float32, self._y.shape, self._y.ctypes.data)
        # a causal model re-run from zero state
        self._states = [(s.zeros(1), s.zeros(1)) for s in sig.states]
        for spec, (s_in, s_out) in zip(sig.states, self._states):
            b.bind_cpu_input(spec.input, s_in)
            b.bind_output(spec.output, "cpu", 0, np.float32, s_out.shape, s_out.ctypes.data)
        self._call: Callable[[], None] = run_call(model.session, b, model.run_options)
        # (F,) the newest row, model units
        self._new = np.zeros(len(self._features), dtype=np.float32)
        self._new_mem = flat(self._new)
        # (n_targets,) of the last step
        self._y_last = flat(self._y)[-len(self._targets) :]

    def reset(self) -> None:
        """Forget every row: the next ``window`` steps warm up again."""
        # (W, F) user units, oldest first
        self.rows = np.zeros((self.window, len(self._features)), dtype=np.float32)
        self.n_steps = 0
        self._x.fill(0.0)

    @property
    def ready(self) -> bool:
        """A full window has arrived: every step now returns a forecast."""
        return self.n_steps >= self.window

    def step(self, x: Row) -> WindowResult:
        """Add one row (feature -> value mapping, or values in feature order); forecast once W
        rows are in."""
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
        forecast: dict[str, float] = dict(zip(self._targets, self._y_last.tolist()))
        return WindowResult(self.n_steps, forecast, False)

    def _scaled(self, x: Any) -> list[float]:
        """Check and scale one row into ``self._new`` (F,); its float32 values in user units.
        The usual inputs take Python floats; anything unusual, or bad, takes ``checked_row``,
        which raises."""
        values = fast_values(x, self._features)
        if values is not None:
            try:
                row = self._in.transform_into(values, self._new_mem)
                if _isfinite(sum(row)):
                    return row
            except (TypeError, ValueError, OverflowError):
                pass
        checked: list[float] = checked_row(x, self._features).tolist()
        self._in.transform_into(checked, self._new_mem)
        return checked

    def steps(
        self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray
    ) -> list[WindowResult]:
        """``step`` for each row, in order."""
        return [self.step(x) for x in xs]
