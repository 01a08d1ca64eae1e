"""The state contract of a steppable forecaster: steps, chunks, reset, batch, snapshot."""

from __future__ import annotations

import numpy as np

from edgernn.checks.graph import check_window_contract
from edgernn.checks.report import (
    TOLERANCE,
    Check,
    forecast_error,
    max_abs,
    random_like,
    rms,
    state_error,
    user_inputs,
    verdict,
)
from edgernn.core.model import Model


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
    if model.signature.reduction is not None:
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
    error = max(forecast_error(model, stepped, whole), state_error(one.states, chunk.states))
    return verdict(
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
            error, forecast_error(model, parts, whole), state_error(s.states, whole_stream.states)
        )
    return verdict(
        "chunks 1/3/7", error, tolerance, f"chunks of 1, 3 and 7 vs one chunk of {len(rows)}"
    )


def check_reset(model: Model, rows: np.ndarray, before: np.ndarray) -> Check:
    used, fresh = model.stream(), model.stream()
    used.steps(before)
    used.reset()
    error = max(
        forecast_error(model, used.steps(rows), fresh.steps(rows), exact=True),
        state_error(used.states, fresh.states),
    )
    return verdict(
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
        np.concatenate([random_like(s, rng), s], axis=spec.batch_axis)  # the other stream first
        for s, spec in zip(model.initial_state(1), sig.states)
    ]
    both_y, both_states = model.run(np.concatenate([other, mine]), states)  # (2, T, O)
    mine_states = [
        np.take(s, [1], axis=spec.batch_axis) for s, spec in zip(both_states, sig.states)
    ]
    error = max(max_abs(both_y[1:], alone_y), state_error(mine_states, alone_states))
    return verdict(
        "batch independence",
        error,
        tolerance,
        f"a stream alone vs next to another stream (batch 2), {len(rows)} steps",
    )


def check_reduced_agreement(
    model: Model, rows: np.ndarray, rng: np.random.Generator, tolerance: float
) -> Check:
    """Reduced graphs: single steps vs chunks of 1/3/7/all vs batched with another stream,
    by RMS."""
    stepped = model.stream()
    # (T, O) user units
    base = np.array([list(r.forecast.values()) for r in (stepped.step(r) for r in rows)])
    worst = 0.0
    for size in (3, 7, len(rows)):
        s = model.stream()
        parts = [r for i in range(0, len(rows), size) for r in s.steps(rows[i : i + size])]
        worst = max(worst, rms(np.array([list(r.forecast.values()) for r in parts]), base, model))
    pool = model.pool()
    other = user_inputs(model, len(rows), rng)
    batched = np.array(
        [
            pool.step_batch(["other", "me"], np.stack([o, r])).forecast[1]
            for o, r in zip(other, rows)
        ]
    )
    worst = max(worst, rms(batched, base, model))
    return verdict(
        "chunks and batching (RMS)",
        worst,
        tolerance,
        f"reduced graph: chunks of 3, 7, {len(rows)} and a 2-stream pool vs single steps, RMS of "
        "the forecast",
    )


def check_snapshot(model: Model, rows: np.ndarray) -> Check:
    half = len(rows) // 2
    live = model.stream()
    live.steps(rows[:half])
    restored = model.stream(state=live.snapshot())
    a, b = live.steps(rows[half:]), restored.steps(rows[half:])
    error = max(forecast_error(model, a, b, exact=True), state_error(live.states, restored.states))
    same_scores = [r.anomaly_score for r in a] == [r.anomaly_score for r in b]
    check = verdict(
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
