"""One stream's state over a shared model: step, steps, forecast, reset, snapshot.

A stream speaks the user's units: inputs are scaled with the signature's input scaler before
the graph and forecasts are unscaled after it. For forecast models every step also scores the
value that just arrived against the forecast made one step earlier (see ``edgernn.core.anomaly``),
and a slower test over those scores flags sustained shifts: drifts and ramps
(``edgernn.core.drift``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.calendar import with_calendar
from edgernn.core import snapshot
from edgernn.core.anomaly import ResidualStats
from edgernn.core.buffers import StepBuffers
from edgernn.core.drift import DETECTORS, DRIFT_THRESHOLD, PageHinkley
from edgernn.core.protocols import LoadedModel
from edgernn.core.rows import FAST_ARRAYS, NOT_FINITE, Row, row_values
from edgernn.core.views import float32_scratch
from edgernn.errors import DataError, UsageError


@dataclass(slots=True)
class StepResult:
    """What one step gives back, in the user's units. (Not frozen: a frozen dataclass sets each
    field through ``object.__setattr__``, ~0.3 us more per step than these slots.)"""

    step: int  # steps this stream has taken, counting this one (1-based)
    forecast: dict[str, float]  # each target's forecast for the next step
    anomaly_score: float | None  # |z| of this step's forecast error; None while warming up
    anomaly: bool  # a detector fired: anomaly_score above the threshold, or the drift test
    # which fired: "residual", "drift" or "residual+drift"; None when anomaly is False
    detector: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "forecast": self.forecast,
            "anomaly_score": self.anomaly_score,
            "anomaly": self.anomaly,
            "detector": self.detector,
        }


_isfinite = math.isfinite


class Stream:
    """Recurrent state of one series. Cheap to create; never shared between threads.

    ``step`` has a fast path for the usual inputs (a list, tuple or mapping of numbers, or a 1-D
    float array): Python floats all the way, rounded to float32 where numpy would round by
    storing them into float32 memoryviews (``Scaler.transform_into``), written straight into
    the bound input and read straight from the bound output. No numpy call and few objects:
    after the graph call (whose work evicts the interpreter's caches) every Python operation
    costs about twice what it costs in a tight loop. It gives the bits the numpy path gives;
    any other input, and every malformed one, takes the numpy path, which raises the errors.

    >>> import edgernn
    >>> s = edgernn.load(provider="cpu").stream()
    >>> r = s.step({"temp": 21.0, "humidity": 55.0})
    >>> r.step, sorted(r.forecast), r.anomaly_score       # no score while it warms up
    (1, ['temp'], None)
    >>> blob = s.snapshot()                               # the whole state, bound to this model
    >>> s.step([21.2, 54.0]).step, s.model.stream(state=blob).n_steps
    (2, 1)
    """

    def __init__(
        self,
        model: LoadedModel,
        state: bytes | None = None,
        threshold: float | None = None,
        warmup: int = 20,
        drift_threshold: float | None = None,
    ):
        """``threshold``: the residual |z| that is an anomaly (default: the model's);
        ``drift_threshold``: the drift test's lambda (default ``DRIFT_THRESHOLD``; inf: off)."""
        self.model = model
        sig = model.signature
        if not sig.causal:
            raise UsageError(
                f"{model.path.name} is not causal (a window model: it reads {sig.window} steps "
                "at once, e.g. a bidirectional layer) and cannot be stepped; use "
                f"model.window_stream(), which re-runs the latest {sig.window} rows at every step"
            )
        self._features, self._targets = sig.features, sig.targets
        self._target_cols = sig.target_feature_index()  # where each target sits among the features
        # residuals need every target among the inputs: their columns, when they all are
        self._res_cols = [c for c in self._target_cols if c is not None]
        self._scored = len(self._res_cols) == len(self._target_cols)
        self._threshold = sig.anomaly_threshold if threshold is None else float(threshold)
        self._warmup = warmup
        self._drift_threshold = DRIFT_THRESHOLD if drift_threshold is None else drift_threshold
        self._in, self._out = sig.input_scaler, sig.target_scaler
        # rounds a residual to float32 (n_targets,)
        self._res_mem = float32_scratch(len(sig.targets))
        self.reset()
        if state is not None:
            self._restore(state)

    # ---- the verbs ----------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a fresh stream: zero state, no history, anomaly statistics forgotten."""
        if getattr(self, "_buf", None) is None:
            # pre-bound x, y and two state sets (batch 1), as model.step_buffers(1) makes them
            self._buf = StepBuffers(self.model, 1, self.model.state_device)
        else:  # the same buffers (and, under CUDA graphs, the same captured graphs), zeroed
            self._buf.load(self.model.initial_state(1))
        self.n_steps = 0
        # last input, float32 values in user units (F,)
        self._last_row: Sequence[float] | None = None
        # last forecast, float32 values in user units (n_targets,)
        self._last_pred: Sequence[float] | None = None
        self.residuals = ResidualStats(
            len(self._targets), warmup=self._warmup, threshold=self._threshold
        )
        self.drift = PageHinkley(
            len(self._targets), threshold=self._drift_threshold, clip=self._threshold
        )

    @property
    def states(self) -> list[np.ndarray]:
        """The live recurrent state, one array per state tensor (batch axis of size 1)."""
        return self._buf.states

    def step(self, x: Row) -> StepResult:
        """Feed one time step (a mapping of feature -> value, or values in feature order)."""
        buf = self._buf
        row = self._fast_input(x)  # (F,) float32 values, user units; model units in the bound x
        if row is None:
            rows = self._as_rows([x] if not isinstance(x, np.ndarray) else x.reshape(1, -1))
            row = rows[0].tolist()
            self._in.transform_into(row, buf.x_mem)
        # any NaN/inf shows in the sum; finite float32s cannot overflow it
        elif not _isfinite(sum(row)):
            raise DataError(NOT_FINITE)
        buf.run()  # y (1, 1, n_targets) model units
        self._out.inverse_inplace(buf.y_mem)  # y in user units, until the next run
        return self._account(row, buf.y_mem.tolist())

    def steps(
        self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray
    ) -> list[StepResult]:
        """Feed T steps in one graph call; the same results as T calls of ``step``."""
        sig = self.model.signature
        rows = self._as_rows(xs)  # (T, F) user units
        if len(rows) == 0:
            return []
        # y (1, T, n_targets)
        y, states = self.model.run(sig.input_scaler.transform(rows)[None], self.states)
        self._buf.load(states)
        preds = sig.target_scaler.inverse(y[0])  # (T, n_targets) user units
        return [self._account(row, pred) for row, pred in zip(rows.tolist(), preds.tolist())]

    def forecast(self, horizon: int) -> np.ndarray:
        """The next ``horizon`` values of the targets, (horizon, n_targets), user units.

        Recursive: each forecast is fed back as the next input, on a copy of the state, so
        the live stream is untouched. Inputs that are not targets are held at their last value.
        """
        if horizon < 1:
            raise UsageError(f"horizon must be >= 1, got {horizon}")
        if self._last_pred is None:
            raise UsageError(
                "forecast() needs at least one step first; call step() with the latest values"
            )
        if horizon > 1 and None in self._target_cols:
            raise UsageError(
                "this model's targets are not among its inputs, "
                "so it can only forecast 1 step ahead"
            )
        sig = self.model.signature
        out = [np.array(self._last_pred, np.float32)]  # (n_targets,)
        # row (F,)
        states, row = [s.copy() for s in self.states], np.array(self._last_row, np.float32)
        for _ in range(horizon - 1):
            row[self._res_cols] = out[-1]  # every target is an input here
            y, states = self.model.run(sig.input_scaler.transform(row)[None, None], states)
            out.append(sig.target_scaler.inverse(y[0, -1]))
        return np.stack(out)  # (horizon, n_targets)

    def snapshot(self) -> bytes:
        """This stream's whole state as bytes, bound to this exact model, with a checksum."""
        meta = {
            "kind": "stream",
            "n_steps": self.n_steps,
            "last_row": None if self._last_row is None else list(self._last_row),
            "last_pred": None if self._last_pred is None else list(self._last_pred),
            "residuals": self.residuals.to_dict(),
            "drift": self.drift.to_dict(),
        }
        return snapshot.pack(
            self.model.model_id, meta, {f"state_{i}": s for i, s in enumerate(self.states)}
        )

    # ---- internals ------------------------------------------------------------------------
    def _fast_input(self, x: Any) -> list[float] | None:
        """Write ``x`` in model units into the bound input and return it as float32 values in
        Python floats (what numpy's float32 row holds), when it is a list, tuple or mapping of
        numbers or a 1-D float32/float64 array, with the right count; None for anything else,
        which goes to the numpy path (finiteness is the caller's check)."""
        kind = type(x)
        if kind is np.ndarray:
            if x.ndim != 1 or x.dtype not in FAST_ARRAYS:
                return None
            x = x.tolist()
        elif kind is not list and kind is not tuple:
            if not isinstance(x, Mapping):
                return None
            if self.model.signature.calendar:  # its columns, from x["timestamp"] (RecordError)
                x = with_calendar(x, self.model.signature.calendar)
            try:
                x = [x[f] for f in self._features]
            except KeyError:
                return None
        if len(x) != len(self._features):
            return None
        try:
            return self._in.transform_into(x, self._buf.x_mem)
        except (TypeError, ValueError, OverflowError):  # not a number (a string, None, a huge int)
            return None

    def _account(self, row: Sequence[float], pred: Sequence[float]) -> StepResult:
        """Score this step's actual values against the previous forecast, test for drift, then
        move on."""
        score, detector = None, None
        last = self._last_pred
        if last is not None and self._scored:
            res, cols = self._res_mem, self._res_cols
            for k in range(len(res)):
                res[k] = row[cols[k]] - last[k]  # the float32 residual numpy gave
            stats = self.residuals
            score = stats.observe_floats(res)
            if score is not None:  # z against the statistics before this residual
                drift = self.drift.observe_floats(stats.z)
                if drift or score > self._threshold:
                    detector = DETECTORS[score > self._threshold, drift]
        self.n_steps += 1
        self._last_row, self._last_pred = row, pred
        forecast = {self._targets[0]: pred[0]} if len(pred) == 1 else dict(zip(self._targets, pred))
        return StepResult(self.n_steps, forecast, score, detector is not None, detector)

    def _as_rows(
        self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray
    ) -> np.ndarray:
        """``xs`` as (T, F) float32 rows in user units; DataError for anything malformed."""
        features = self.model.signature.features
        if isinstance(xs, np.ndarray):
            rows = xs.astype(np.float32, copy=False)
        else:
            cal = self.model.signature.calendar  # a mapping's calendar columns, from its timestamp
            values = [
                row_values(with_calendar(x, cal) if cal and isinstance(x, Mapping) else x, features)
                for x in xs
            ]
            rows = np.array(values, dtype=np.float32).reshape(-1, len(features))
        if rows.ndim != 2 or rows.shape[1] != len(features):
            raise DataError(
                f"expected rows of {len(features)} values ({', '.join(features)}), "
                f"got shape {rows.shape}"
            )
        if not np.isfinite(rows).all():
            raise DataError(NOT_FINITE)
        return rows

    def _restore(self, blob: bytes) -> None:
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        sig = self.model.signature
        shapes = [tuple(s.shape) for s in self.states]
        # the content too, as the pool checks it: a forged blob with a valid checksum is refused
        snapshot.check_stream(meta, arrays, shapes, len(sig.features), len(sig.targets))
        states = [arrays[f"state_{i}"] for i in range(len(self.states))]
        self._buf.load(states)
        self.n_steps = int(meta["n_steps"])
        self._last_row, self._last_pred = _float32s(meta["last_row"]), _float32s(meta["last_pred"])
        self.residuals.load_dict(meta["residuals"])
        if "drift" in meta:  # older snapshots have none: the drift test starts afresh
            self.drift.load_dict(meta["drift"])


def _float32s(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else np.asarray(values, dtype=np.float32).tolist()
