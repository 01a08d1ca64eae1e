"""One stream's state over a shared model: step, steps, forecast, reset, snapshot.

A stream speaks the user's units: inputs are scaled with the signature's input scaler before
the graph and forecasts are unscaled after it. For forecast models every step also scores the
value that just arrived against the forecast made one step earlier (see ``edgernn.anomaly``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from edgernn import snapshot
from edgernn.anomaly import ResidualStats
from edgernn.errors import DataError, StateError, UsageError

@dataclass(frozen=True)
class StepResult:
    """What one step gives back, in the user's units."""

    step: int  # steps this stream has taken, counting this one (1-based)
    forecast: dict[str, float]  # each target's forecast for the next step
    anomaly_score: float | None  # |z| of this step's forecast error; None while warming up
    anomaly: bool  # anomaly_score above the stream's threshold

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "forecast": self.forecast, "anomaly_score": self.anomaly_score, "anomaly": self.anomaly}


class Stream:
    """Recurrent state of one series. Cheap to create; never shared between threads."""

    def __init__(self, model, state: bytes | None = None, threshold: float | None = None, warmup: int = 20):
        self.model = model
        sig = model.signature
        if not sig.causal:
            raise UsageError(f"{model.path.name} is not causal (a window model: it reads {sig.window} steps at once, e.g. a "
                             f"bidirectional layer) and cannot be stepped; use model.window_stream(), which re-runs "
                             f"the latest {sig.window} rows at every step")
        self._targets = sig.targets
        self._target_cols = sig.target_feature_index()  # where each target sits among the features
        self._threshold = sig.anomaly_threshold if threshold is None else float(threshold)
        self._warmup = warmup
        self.reset()
        if state is not None:
            self._restore(state)

    # ---- the verbs ----------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a fresh stream: zero state, no history, anomaly statistics forgotten."""
        self._buf = self.model.step_buffers(1)  # pre-bound x, y and two state sets (batch 1)
        self.n_steps = 0
        self._last_row: np.ndarray | None = None  # last input, user units (F,)
        self._last_pred: np.ndarray | None = None  # last forecast, user units (n_targets,)
        self.residuals = ResidualStats(len(self._targets), warmup=self._warmup, threshold=self._threshold)

    @property
    def states(self) -> list[np.ndarray]:
        """The live recurrent state, one array per state tensor (batch axis of size 1)."""
        return self._buf.states

    def step(self, x: Mapping[str, float] | Sequence[float] | np.ndarray) -> StepResult:
        """Feed one time step (a mapping of feature -> value, or values in feature order)."""
        sig = self.model.signature
        row = self._as_rows([x] if not isinstance(x, np.ndarray) else x.reshape(1, -1))[0]  # (F,)
        sig.input_scaler.transform(row, out=self._buf.x[0, 0])
        y = self._buf.run()  # (1, 1, n_targets) model units
        return self._account(row, sig.target_scaler.inverse(y[0, 0]))

    def steps(self, xs: Iterable[Mapping[str, float] | Sequence[float]] | np.ndarray) -> list[StepResult]:
        """Feed T steps in one graph call; the same results as T calls of ``step``."""
        sig = self.model.signature
        rows = self._as_rows(xs)  # (T, F) user units
        if len(rows) == 0:
            return []
        y, states = self.model.run(sig.input_scaler.transform(rows)[None], self.states)  # y (1, T, n_targets)
        self._buf.load(states)
        preds = sig.target_scaler.inverse(y[0])  # (T, n_targets) user units
        return [self._account(row, pred) for row, pred in zip(rows, preds)]

    def forecast(self, horizon: int) -> np.ndarray:
        """The next ``horizon`` values of the targets, (horizon, n_targets), user units.

        Recursive: each forecast is fed back as the next input, on a copy of the state, so
        the live stream is untouched. Inputs that are not targets are held at their last value.
        """
        if horizon < 1:
            raise UsageError(f"horizon must be >= 1, got {horizon}")
        if self._last_pred is None:
            raise UsageError("forecast() needs at least one step first; call step() with the latest values")
        if horizon > 1 and None in self._target_cols:
            raise UsageError("this model's targets are not among its inputs, so it can only forecast 1 step ahead")
        sig = self.model.signature
        out = [self._last_pred]
        states, row = [s.copy() for s in self.states], self._last_row.copy()
        for _ in range(horizon - 1):
            row[self._target_cols] = out[-1]
            y, states = self.model.run(sig.input_scaler.transform(row)[None, None], states)
            out.append(sig.target_scaler.inverse(y[0, -1]))
        return np.stack(out)  # (horizon, n_targets)

    def snapshot(self) -> bytes:
        """This stream's whole state as bytes, bound to this exact model, with a checksum."""
        meta = {
            "kind": "stream",
            "n_steps": self.n_steps,
            "last_row": None if self._last_row is None else self._last_row.tolist(),
            "last_pred": None if self._last_pred is None else self._last_pred.tolist(),
            "residuals": self.residuals.to_dict(),
        }
        return snapshot.pack(self.model.model_id, meta, {f"state_{i}": s for i, s in enumerate(self.states)})

    # ---- internals ------------------------------------------------------------------------
    def _account(self, row: np.ndarray, pred: np.ndarray) -> StepResult:
        """Score this step's actual values against the previous forecast, then move on."""
        score = None
        if self._last_pred is not None and None not in self._target_cols:
            score = self.residuals.observe(row[self._target_cols] - self._last_pred)
        self.n_steps += 1
        self._last_row, self._last_pred = row, pred
        forecast = {name: float(v) for name, v in zip(self._targets, pred)}
        return StepResult(self.n_steps, forecast, score, bool(score is not None and score > self._threshold))

    def _as_rows(self, xs) -> np.ndarray:
        features = self.model.signature.features
        if isinstance(xs, np.ndarray):
            rows = xs.astype(np.float32, copy=False)
        else:
            rows = np.array([_row(x, features) for x in xs], dtype=np.float32).reshape(-1, len(features))
        if rows.ndim != 2 or rows.shape[1] != len(features):
            raise DataError(f"expected rows of {len(features)} values ({', '.join(features)}), got shape {rows.shape}")
        if not np.isfinite(rows).all():
            raise DataError("inputs contain NaN or inf; drop or fill those values before streaming them")
        return rows

    def _restore(self, blob: bytes) -> None:
        meta, arrays = snapshot.unpack(blob, self.model.model_id)
        if meta.get("kind") != "stream":
            raise StateError(f"this is a {meta.get('kind')!r} snapshot, not a stream's; restore it with the matching API")
        states = [arrays.get(f"state_{i}") for i in range(len(self.states))]
        for got, want in zip(states, self.states):
            if got is None or got.shape != want.shape or got.dtype != np.float32:
                raise StateError(f"snapshot state does not match the model's float32{want.shape}; take a new snapshot")
        self._buf.load(states)
        self.n_steps = int(meta["n_steps"])
        self._last_row = None if meta["last_row"] is None else np.asarray(meta["last_row"], dtype=np.float32)
        self._last_pred = None if meta["last_pred"] is None else np.asarray(meta["last_pred"], dtype=np.float32)
        self.residuals.load_dict(meta["residuals"])

def _row(x: Mapping[str, float] | Sequence[float], features: Sequence[str]) -> list[float]:
    if isinstance(x, Mapping):
        missing = [f for f in features if f not in x]
        if missing:
            raise DataError(f"input is missing feature(s) {', '.join(missing)}; every step needs {', '.join(features)}")
        return [float(x[f]) for f in features]
    values = [float(v) for v in x]
    if len(values) != len(features):
        raise DataError(f"expected {len(features)} values ({', '.join(features)}), got {len(values)}")
    return values

