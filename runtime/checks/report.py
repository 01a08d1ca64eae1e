"""A check's verdict and the report of many; the tolerances and error measures they use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgernn.core.model import Model
from edgernn.core.stream import StepResult
from edgernn.signature import TOLERANCES, Signature

TOLERANCE = TOLERANCES.parity  # max abs error, model units, for checks that allow rounding


@dataclass(frozen=True)
class Check:
    """One verification check and its outcome."""

    name: str  # short, stable, e.g. "steps == chunk"
    passed: bool
    max_abs_error: float | None  # None where no number applies (a skipped check, a shape check)
    detail: str  # what was compared, or why it failed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a non-finite error (outputs of another shape) becomes None."""
        d = asdict(self)
        if d["max_abs_error"] is not None and not np.isfinite(d["max_abs_error"]):
            d["max_abs_error"] = None
        return d


@dataclass
class VerifyReport:
    """The checks run on one model (and, with a checkpoint, against its PyTorch source)."""

    model: str  # path of the .onnx
    checks: list[Check] = field(default_factory=list)
    checkpoint: str | None = None  # path of the checkpoint compared against, if any

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "checkpoint": self.checkpoint,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


def tolerance_for(signature: Signature) -> float:
    """What a model's numbers are held to: the export's parity tolerance (1e-5) for a float32
    graph; for an int8 / fp16 graph, the accuracy tolerance its export accepted (model units),
    since reduced precision moves results by more than float32 rounding (dynamic int8 even
    couples the rows of one call: chunks and co-batched streams differ by ~1% of scale)."""
    if signature.reduction is not None:
        return float(signature.reduction.tolerance)
    return float(signature.tolerance) if signature.tolerance is not None else TOLERANCE


def verdict(name: str, error: float, tolerance: float, detail: str) -> Check:
    ok = error <= tolerance
    if not ok:
        detail = f"{detail}: off by {error:.1e} (> {tolerance:.0e})"
    return Check(name, ok, error, detail)


def forecast_error(
    model: Model, a: Sequence[StepResult], b: Sequence[StepResult], exact: bool = False
) -> float:
    """Max abs difference of two runs' forecasts, in model units.

    Forecasts arrive in user units as float32, already rounded at their magnitude (a value
    near 1013 carries ~6e-5 of rounding). Unless ``exact``, a difference within two float32
    spacings of the user-unit value is not counted, so the tolerance stays a model-unit one.
    """
    if len(a) != len(b):
        return float("inf")
    targets, scale = (
        model.signature.targets,
        np.abs(np.asarray(model.signature.target_scaler.scale)),
    )
    # (T, O)
    fa = np.array([[r.forecast[t] for t in targets] for r in a], dtype=np.float32).reshape(
        -1, len(targets)
    )
    fb = np.array([[r.forecast[t] for t in targets] for r in b], dtype=np.float32).reshape(
        -1, len(targets)
    )
    diff = np.abs(fa.astype(np.float64) - fb)
    if not exact:
        diff = np.maximum(diff - 2 * np.spacing(np.maximum(np.abs(fa), np.abs(fb))), 0.0)
    return float(np.max(diff / scale, initial=0.0))


def state_error(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max((max_abs(p, q) for p, q in zip(a, b)), default=0.0)


def max_abs(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))


def rms(a: np.ndarray, b: np.ndarray, model: Model) -> float:
    scale = np.abs(np.asarray(model.signature.target_scaler.scale, dtype=np.float64))
    return float(np.max(np.sqrt(np.mean(((a - b) / scale) ** 2, axis=0))))


def random_like(state: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (0.5 * rng.standard_normal(state.shape)).astype(np.float32)


def user_inputs(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, F) random rows in user units: offset + scale * N(0, 1) per feature."""
    scaler = model.signature.input_scaler
    z = rng.standard_normal((n, len(model.signature.features)))
    return (np.asarray(scaler.offset) + np.asarray(scaler.scale) * z).astype(np.float32)


def graph_inputs(model: Model, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random graph inputs: token ids for text models, scaled N(0, 1) features otherwise."""
    spec, sig = model.signature.inputs[0], model.signature
    if spec.dtype == "int64" and sig.tokenizer is not None:
        return rng.integers(0, len(sig.tokenizer.vocab), size=(batch, length), dtype=np.int64)
    return sig.input_scaler.transform(user_inputs(model, batch * length, rng)).reshape(
        batch, length, -1
    )
