"""The state contract of a loaded model, checked with the runtime alone (no torch, no onnx).

Whatever produced a graph, a stream over it must behave like one recurrent model:

- ``shapes``: outputs and states have the signature's shapes at batch 3 and length 2;
- ``steps == chunk``: T single steps give what one chunk of T gives;
- ``chunks 1/3/7``: any chunking of the same inputs gives the same outputs;
- ``reset == fresh``: a reset stream is a fresh stream, bit for bit;
- ``batch independence``: a stream's outputs do not change when another stream shares the
  graph call (batch 2 vs batch 1);
- ``snapshot/restore``: a restored snapshot continues bit-identically.

A window model (``signature.causal`` False, e.g. bidirectional) has no state to step; it gets
``check_window_contract`` instead: window shapes, ``window re-run == graph`` (each
``WindowStream`` step gives the graph's forecast on that window) and batch independence.

Inputs are random, in the user's units (the input scaler's offset + scale * N(0, 1)).
Errors are in model units (forecast differences divided by the target scaler's scale,
float32 rounding of the user-unit values not counted), so one tolerance serves any data
scale; "bit-identical" checks compare raw values with tolerance 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from edgernn.core.model import Model
from edgernn.core.stream import StepResult

TOLERANCE = 1e-5  # max abs error, model units, for checks that allow rounding differences


@dataclass(frozen=True)
class Check:
    """One verification check and its outcome."""

    name: str  # short, stable, e.g. "steps == chunk"
    passed: bool
    max_abs_error: float | None  # None where no number applies (a skipped check, a shape check)
    detail: str  # what was compared, or why it failed

    def to_dict(self) -> dict:
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

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "checkpoint": self.checkpoint,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }


def tolerance_for(signature) -> float:
    """What a model's numbers are held to: the export's parity tolerance (1e-5) for a float32
    graph; for an int8 / fp16 graph, the accuracy tolerance its export accepted (model units),
    since reduced precision moves results by more than float32 rounding (dynamic int8 even
    couples the rows of one call: chunks and co-batched streams differ by ~1% of scale)."""
    q = signature.parity.get("quantization")
    if q:
        return float(q["tolerance"])
    return float(signature.parity.get("tolerance", TOLERANCE))


def check_contract(
    model: Model, steps: int = 50, seed: int = 0, tolerance: float = TOLERANCE
) -> list[Check]:
    """Every state-contract check on ``model`` with ``steps`` random steps.

    An int8 / fp16 graph keeps the exact checks (reset, snapshot) but its chunk and batch
    checks are judged by the RMS of the forecast difference against its export tolerance:
    dynamic int8 quantizes each call's activations together, so they cannot agree to 1e-5."""
    if not model.signature.causal:
        return check_window_contract(model, steps=steps, seed=seed, tolerance=tolerance)
    rng = np.random.default_rng(seed)
    rows = user_inputs(model, steps, rng)  # (T, F) user units
    if model.signature.parity.get("quantization"):
        return [
            check_shapes(model),
            check_reduced_agreement(model, rows, rng, tolerance),
            check_reset(model, rows, user_inputs(model, 7, rng)),
            check_snapshot(model, rows),
        ]
    return [
        check_shapes(model),
        check_steps_vs_chunk(model, rows, tolerance),
        check_chunkings(model, rows, tolerance),
        check_reset(model, rows, user_inputs(model, 7, rng)),
        check_batch_independence(model, rows, rng, tolerance),
        check_snapshot(model, rows),
    ]


def check_window_contract(
    model: Model, steps: int = 50, seed: int = 0, tolerance: float = TOLERANCE
) -> list[Check]:
    """A window model's checks: y is (B, 1, targets) with no states; a ``WindowStream`` over
    ``window + steps`` rows forecasts what one graph call on each window gives; a window's
    forecast does not depend on another window in the same call."""
    sig, rng = model.signature, np.random.default_rng(seed)
    w = sig.window
    x = sig.input_scaler.transform(user_inputs(model, 3 * w, rng)).reshape(
        3, w, -1
    )  # (3, W, F) model units
    y, states = model.run(x, [])
    want = tuple(3 if a == "batch" else w if a == "time" else int(a) for a in sig.outputs[0].shape)
    ok = y.shape == want and not states and not sig.states
    shapes = Check(
        "shapes",
        ok,
        None,
        f"y {want} and no states at batch 3, window {w}"
        if ok
        else f"y {y.shape} and {len(states)} state(s); signature says y {want} and none",
    )
    rows = user_inputs(model, w + steps, rng)  # (W + steps, F) user units
    stream = model.window_stream()
    got = [r.forecast for r in stream.steps(rows)][w - 1 :]  # the first W - 1 steps warm up
    windows = np.stack([rows[i : i + w] for i in range(steps + 1)])  # (steps + 1, W, F)
    direct, _ = model.run(sig.input_scaler.transform(windows), [])
    direct = sig.target_scaler.inverse(direct[:, -1])  # (steps + 1, n_targets) user units
    scale = np.abs(np.asarray(sig.target_scaler.scale, dtype=np.float64))
    got_arr = (
        np.array([[f[t] for t in sig.targets] for f in got], dtype=np.float64)
        if None not in got
        else None
    )
    error = (
        float("inf")
        if got_arr is None or got_arr.shape != direct.shape
        else float(np.max(np.abs(got_arr - direct) / scale, initial=0.0))
    )
    alone, _ = model.run(x[1:2], [])
    return [
        shapes,
        _verdict(
            "window re-run == graph",
            error,
            tolerance,
            f"{steps + 1} WindowStream forecasts vs one graph call over the same {steps + 1} windows of {w}",
        ),
        _verdict(
            "batch independence",
            _max_abs(y[1:2], alone),
            tolerance,
            f"a window alone vs in a batch of 3, window {w}",
        ),
    ]


def check_graph_contract(
    model: Model, steps: int = 50, seed: int = 0, tolerance: float = TOLERANCE
) -> list[Check]:
    """The state contract at the graph level, for any causal model (token models too): one step
    at a time == one chunk == chunks of 3 and 7; a row's results do not depend on the batch;
    reset step buffers (what ``Generator`` / ``ClassifierStream.reset`` do) == fresh ones."""
    rng = np.random.default_rng(seed)
    x = graph_inputs(model, 2, steps, rng)  # (2, T, ...) two independent streams
    whole_y, whole_states = model.run(x, model.initial_state(2))

    def chunked_error(size: int) -> float:
        states, ys = model.initial_state(2), []
        for i in range(0, steps, size):
            y, states = model.run(x[:, i : i + size], states)
            ys.append(y)
        return max(
            _max_abs(np.concatenate(ys, axis=1), whole_y), _state_error(states, whole_states)
        )

    alone_y, _ = model.run(x[1:], model.initial_state(1))
    return [
        check_shapes_any(model),
        _verdict(
            "steps == chunk",
            chunked_error(1),
            tolerance,
            f"{steps} single steps vs one chunk, batch 2",
        ),
        _verdict(
            "chunks 3/7",
            max(chunked_error(3), chunked_error(7)),
            tolerance,
            f"chunks of 3 and 7 vs one chunk of {steps}, batch 2",
        ),
        _verdict(
            "batch independence",
            _max_abs(whole_y[1:], alone_y),
            tolerance,
            f"a stream alone vs next to another stream (batch 2), {steps} steps",
        ),
        check_buffers_reset(model, x[0]),
    ]


def check_buffers_reset(model: Model, x: np.ndarray) -> Check:
    """Step buffers run over ``x`` (T, ...), reset to the initial state, run again: the same
    outputs, exactly, as fresh buffers (the reset of every token-model API)."""

    def run(buffers) -> np.ndarray:
        out = []
        for row in x:  # one step per call, the state fed back inside the buffers
            buffers.x[0, 0] = row
            out.append(buffers.run()[0, 0].copy())
        return np.stack(out)

    used = model.step_buffers(1)
    run(used)
    used.load(model.initial_state(1))
    error = _max_abs(run(used), run(model.step_buffers(1)))
    ok = error == 0.0
    return Check(
        "reset == fresh",
        ok,
        error,
        f"{len(x)} steps after a reset vs fresh buffers"
        if ok
        else f"a reset stream differs from a fresh one by {error:.1e}: the reset leaves state behind",
    )


def graph_inputs(model: Model, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random graph inputs: token ids for text models, scaled N(0, 1) features otherwise."""
    spec, sig = model.signature.inputs[0], model.signature
    if spec.dtype == "int64":
        return rng.integers(0, len(sig.tokenizer.vocab), size=(batch, length), dtype=np.int64)
    return sig.input_scaler.transform(user_inputs(model, batch * length, rng)).reshape(
        batch, length, -1
    )


def check_shapes_any(model: Model) -> Check:
    """Outputs and states have the signature's shapes at batch 3, length 2."""
    sig = model.signature
    x = graph_inputs(model, 3, 2, np.random.default_rng(0))
    y, states = model.run(x, model.initial_state(3))
    want = [
        tuple(3 if a == "batch" else 2 if a == "time" else int(a) for a in sig.outputs[0].shape)
    ]
    want += [s.zeros(3).shape for s in sig.states]
    got = [y.shape] + [s.shape for s in states]
    return Check(
        "shapes",
        got == want,
        None,
        "outputs and states have the signature's shapes at batch 3, length 2"
        if got == want
        else f"shapes {got}, signature says {want}",
    )


def user_inputs(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, F) random rows in user units: offset + scale * N(0, 1) per feature."""
    scaler = model.signature.input_scaler
    z = rng.standard_normal((n, len(model.signature.features)))
    return (np.asarray(scaler.offset) + np.asarray(scaler.scale) * z).astype(np.float32)


# ---- the checks ----------------------------------------------------------------------------
def check_shapes(model: Model) -> Check:
    sig = model.signature
    x = np.zeros((3, 2, len(sig.features)), dtype=np.float32)  # (B, T, F)
    y, states = model.run(x, model.initial_state(3))
    want = [(3, 2, len(sig.targets))] + [s.zeros(3).shape for s in sig.states]
    got = [y.shape] + [s.shape for s in states]
    ok = got == want
    detail = (
        "y and states have the signature's shapes at batch 3, length 2"
        if ok
        else f"shapes {got}, signature says {want}"
    )
    return Check("shapes", ok, None, detail)


def check_steps_vs_chunk(model: Model, rows: np.ndarray, tolerance: float) -> Check:
    one, chunk = model.stream(), model.stream()
    stepped = [one.step(r) for r in rows]
    whole = chunk.steps(rows)
    error = max(_forecast_error(model, stepped, whole), _state_error(one.states, chunk.states))
    return _verdict(
        "steps == chunk", error, tolerance, f"{len(rows)} single steps vs one chunk of {len(rows)}"
    )


def check_chunkings(model: Model, rows: np.ndarray, tolerance: float) -> Check:
    whole_stream = model.stream()
    whole = whole_stream.steps(rows)
    error = 0.0
    for size in (1, 3, 7):
        s = model.stream()
        parts = [r for i in range(0, len(rows), size) for r in s.steps(rows[i : i + size])]
        error = max(
            error, _forecast_error(model, parts, whole), _state_error(s.states, whole_stream.states)
        )
    return _verdict(
        "chunks 1/3/7", error, tolerance, f"chunks of 1, 3 and 7 vs one chunk of {len(rows)}"
    )


def check_reset(model: Model, rows: np.ndarray, before: np.ndarray) -> Check:
    used, fresh = model.stream(), model.stream()
    used.steps(before)
    used.reset()
    error = max(
        _forecast_error(model, used.steps(rows), fresh.steps(rows), exact=True),
        _state_error(used.states, fresh.states),
    )
    return _verdict(
        "reset == fresh",
        error,
        0.0,
        f"{len(before)} steps, reset, {len(rows)} steps vs a fresh stream; bit-identical",
    )


def check_batch_independence(
    model: Model, rows: np.ndarray, rng: np.random.Generator, tolerance: float
) -> Check:
    sig = model.signature
    mine = sig.input_scaler.transform(rows)[None]  # (1, T, F) model units
    other = sig.input_scaler.transform(user_inputs(model, len(rows), rng))[None]
    alone_y, alone_states = model.run(mine, model.initial_state(1))
    states = [
        np.concatenate([_random_like(s, rng), s], axis=spec.batch_axis)  # the other stream first
        for s, spec in zip(model.initial_state(1), sig.states)
    ]
    both_y, both_states = model.run(np.concatenate([other, mine]), states)  # (2, T, O)
    mine_states = [
        np.take(s, [1], axis=spec.batch_axis) for s, spec in zip(both_states, sig.states)
    ]
    error = max(_max_abs(both_y[1:], alone_y), _state_error(mine_states, alone_states))
    return _verdict(
        "batch independence",
        error,
        tolerance,
        f"a stream alone vs next to another stream (batch 2), {len(rows)} steps",
    )


def check_reduced_agreement(
    model: Model, rows: np.ndarray, rng: np.random.Generator, tolerance: float
) -> Check:
    """Reduced graphs: single steps vs chunks of 1/3/7/all vs batched with another stream, by RMS."""
    stepped = model.stream()
    base = np.array(
        [list(r.forecast.values()) for r in (stepped.step(r) for r in rows)]
    )  # (T, O) user units
    worst = 0.0
    for size in (3, 7, len(rows)):
        s = model.stream()
        parts = [r for i in range(0, len(rows), size) for r in s.steps(rows[i : i + size])]
        worst = max(worst, _rms(np.array([list(r.forecast.values()) for r in parts]), base, model))
    pool = model.pool()
    other = user_inputs(model, len(rows), rng)
    batched = np.array(
        [
            pool.step_batch(["other", "me"], np.stack([o, r])).forecast[1]
            for o, r in zip(other, rows)
        ]
    )
    worst = max(worst, _rms(batched, base, model))
    return _verdict(
        "chunks and batching (RMS)",
        worst,
        tolerance,
        f"reduced graph: chunks of 3, 7, {len(rows)} and a 2-stream pool vs single steps, RMS of the forecast",
    )


def _rms(a: np.ndarray, b: np.ndarray, model: Model) -> float:
    scale = np.abs(np.asarray(model.signature.target_scaler.scale, dtype=np.float64))
    return float(np.max(np.sqrt(np.mean(((a - b) / scale) ** 2, axis=0))))


def check_snapshot(model: Model, rows: np.ndarray) -> Check:
    half = len(rows) // 2
    live = model.stream()
    live.steps(rows[:half])
    restored = model.stream(state=live.snapshot())
    a, b = live.steps(rows[half:]), restored.steps(rows[half:])
    error = max(
        _forecast_error(model, a, b, exact=True), _state_error(live.states, restored.states)
    )
    same_scores = [r.anomaly_score for r in a] == [r.anomaly_score for r in b]
    check = _verdict(
        "snapshot/restore",
        error,
        0.0,
        f"snapshot after {half} steps, {len(rows) - half} more steps; bit-identical",
    )
    if check.passed and not same_scores:
        return Check(
            check.name, False, error, "forecasts identical but anomaly scores differ after restore"
        )
    return check


# ---- helpers -------------------------------------------------------------------------------
def _verdict(name: str, error: float, tolerance: float, detail: str) -> Check:
    ok = error <= tolerance
    if not ok:
        detail = f"{detail}: off by {error:.1e} (> {tolerance:.0e})"
    return Check(name, ok, error, detail)


def _forecast_error(
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
    fa = np.array([[r.forecast[t] for t in targets] for r in a], dtype=np.float32).reshape(
        -1, len(targets)
    )  # (T, O)
    fb = np.array([[r.forecast[t] for t in targets] for r in b], dtype=np.float32).reshape(
        -1, len(targets)
    )
    diff = np.abs(fa.astype(np.float64) - fb)
    if not exact:
        diff = np.maximum(diff - 2 * np.spacing(np.maximum(np.abs(fa), np.abs(fb))), 0.0)
    return float(np.max(diff / scale, initial=0.0))


def _state_error(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return max((_max_abs(p, q) for p, q in zip(a, b)), default=0.0)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))


def _random_like(state: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (0.5 * rng.standard_normal(state.shape)).astype(np.float32)


__all__ = ["Check", "VerifyReport", "check_contract", "check_window_contract", "user_inputs"]
