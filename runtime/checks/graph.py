"""The contract of graphs without a stream to step: window models, token and classifier graphs."""

from __future__ import annotations

import numpy as np

from edgernn.checks.report import (
    TOLERANCE,
    Check,
    graph_inputs,
    max_abs,
    state_error,
    user_inputs,
    verdict,
)
from edgernn.core.buffers import StepBuffers
from edgernn.core.model import Model


def check_window_contract(
    model: Model, steps: int = 50, seed: int = 0, tolerance: float = TOLERANCE
) -> list[Check]:
    """A window model's checks: y is (B, 1, targets) with no states; a ``WindowStream`` over
    ``window + steps`` rows forecasts what one graph call on each window gives; a window's
    forecast does not depend on another window in the same call."""
    sig, rng = model.signature, np.random.default_rng(seed)
    w = sig.window
    # (3, W, F) model units
    x = sig.input_scaler.transform(user_inputs(model, 3 * w, rng)).reshape(3, w, -1)
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
    # the first W - 1 steps warm up (no forecast yet)
    got = [r.forecast for r in stream.steps(rows)][w - 1 :]
    windows = np.stack([rows[i : i + w] for i in range(steps + 1)])  # (steps + 1, W, F)
    direct, _ = model.run(sig.input_scaler.transform(windows), [])
    direct = sig.target_scaler.inverse(direct[:, -1])  # (steps + 1, n_targets) user units
    scale = np.abs(np.asarray(sig.target_scaler.scale, dtype=np.float64))
    ready = [f for f in got if f is not None]
    got_arr = (
        np.array([[f[t] for t in sig.targets] for f in ready], dtype=np.float64)
        if len(ready) == len(got)
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
        verdict(
            "window re-run == graph",
            error,
            tolerance,
            f"{steps + 1} WindowStream forecasts vs one graph call over the same {steps + 1} "
            f"windows of {w}",
        ),
        verdict(
            "batch independence",
            max_abs(y[1:2], alone),
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
        return max(max_abs(np.concatenate(ys, axis=1), whole_y), state_error(states, whole_states))

    alone_y, _ = model.run(x[1:], model.initial_state(1))
    return [
        check_shapes_any(model),
        verdict(
            "steps == chunk",
            chunked_error(1),
            tolerance,
            f"{steps} single steps vs one chunk, batch 2",
        ),
        verdict(
            "chunks 3/7",
            max(chunked_error(3), chunked_error(7)),
            tolerance,
            f"chunks of 3 and 7 vs one chunk of {steps}, batch 2",
        ),
        verdict(
            "batch independence",
            max_abs(whole_y[1:], alone_y),
            tolerance,
            f"a stream alone vs next to another stream (batch 2), {steps} steps",
        ),
        check_buffers_reset(model, x[0]),
    ]


def check_buffers_reset(model: Model, x: np.ndarray) -> Check:
    """Step buffers run over ``x`` (T, ...), reset to the initial state, run again: the same
    outputs, exactly, as fresh buffers (the reset of every token-model API)."""

    def run(buffers: StepBuffers) -> np.ndarray:
        out = []
        for row in x:  # one step per call, the state fed back inside the buffers
            buffers.x[0, 0] = row
            out.append(buffers.run()[0, 0].copy())
        return np.stack(out)

    used = model.step_buffers(1)
    run(used)
    used.load(model.initial_state(1))
    error = max_abs(run(used), run(model.step_buffers(1)))
    ok = error == 0.0
    return Check(
        "reset == fresh",
        ok,
        error,
        f"{len(x)} steps after a reset vs fresh buffers"
        if ok
        else f"a reset stream differs from a fresh one by {error:.1e}: the reset leaves state "
        "behind",
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
