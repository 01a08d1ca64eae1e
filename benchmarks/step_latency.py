"""Single-stream step latency: edgernn ``Stream.step`` next to a bare ``InferenceSession.run``.

Every loop steps the same graph one time step at a time with the state fed back; the bare loop
is what a user would write by hand (inputs pre-scaled, numpy feeds, a dict per call, outputs
allocated by ORT). ``Stream.step`` takes user units and returns the forecast and the anomaly
score; it is timed with float32 array rows and with lists of Python floats (what a parsed JSON
record gives). The graph call alone on ``Stream``'s pre-bound buffers is the floor under
``Stream.step``: the difference is its Python share. The loops alternate in blocks, so a
noisy neighbour slows them alike and the ratios hold.

    python benchmarks/step_latency.py [MODEL] [--steps 20000] [--block 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

import edgernn
from edgernn.feeds.synth import sensor_signal

Loop = Callable[[int], None]  # one step: the index of the row to feed


def percentiles(ns: list[int]) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return {
        "p50_us": round(float(np.percentile(a, 50)), 2),
        "p99_us": round(float(np.percentile(a, 99)), 2),
        "mean_us": round(float(a.mean()), 2),
    }


def bare_run(model: edgernn.Model, rows: np.ndarray) -> Loop:
    """The hand-written loop: inputs scaled beforehand, numpy feeds, the new state taken back."""
    sig = model.signature
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(model.path), so, providers=["CPUExecutionProvider"])
    states = model.initial_state(1)
    x = sig.input_scaler.transform(rows)  # (T, F)

    def step(t: int) -> None:
        nonlocal states
        feeds = {sig.input_name: x[None, t : t + 1]}
        feeds.update({s.input: v for s, v in zip(sig.states, states)})
        y, *states = sess.run(None, feeds)

    return step


def edgernn_step(model: edgernn.Model, rows) -> Loop:
    """``Stream.step`` on user units; ``rows`` is indexable: float32 arrays or lists of floats."""
    s = model.stream()
    return lambda t: s.step(rows[t])


def graph_call(model: edgernn.Model) -> Loop:
    """The floor: only the graph call on a stream's pre-bound buffers (no input, no result)."""
    buf = model.stream()._buf
    return lambda t: buf.run()


def interleaved(loops: dict[str, Loop], steps: int, block: int) -> dict[str, list[int]]:
    """Each loop in turn for ``block`` steps until each has run ``steps``; ns per step."""
    times: dict[str, list[int]] = {name: [] for name in loops}
    for start in range(0, steps, block):
        for name, step in loops.items():
            out = times[name]
            for t in range(start, min(start + block, steps)):
                t0 = time.perf_counter_ns()
                step(t)
                out.append(time.perf_counter_ns() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument(
        "--block", type=int, default=500, help="steps of one loop before the next takes over"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = edgernn.load(args.model, provider="cpu")
    sig = model.signature
    s = sensor_signal(args.steps + 1000, seed=11)
    rows = np.stack([s[f] for f in sig.features], axis=1).astype(np.float32)  # (T, F) user units
    loops = {
        "bare_session_run": bare_run(model, rows),
        "edgernn_stream_step": edgernn_step(model, list(rows)),
        "edgernn_stream_step_lists": edgernn_step(model, rows.astype(np.float64).tolist()),
        "graph_call_only": graph_call(model),
    }
    interleaved(loops, 1000, args.block)  # warm-up: the first 1000 rows
    loops = {
        "bare_session_run": bare_run(model, rows[1000:]),
        "edgernn_stream_step": edgernn_step(model, list(rows[1000:])),
        "edgernn_stream_step_lists": edgernn_step(model, rows[1000:].astype(np.float64).tolist()),
        "graph_call_only": graph_call(model),
    }
    times = interleaved(loops, args.steps, args.block)
    result = {
        "model": model.path.name,
        "arch": sig.arch,
        "layers": list(sig.layers),
        "steps": args.steps,
        "block": args.block,
    } | {name: percentiles(ns) for name, ns in times.items()}
    bare = result["bare_session_run"]["p50_us"]
    result["ratio_p50"] = round(result["edgernn_stream_step"]["p50_us"] / bare, 3)
    result["ratio_p50_lists"] = round(result["edgernn_stream_step_lists"]["p50_us"] / bare, 3)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{model.path.name}: {sig.arch} {list(sig.layers)}, {args.steps} steps per loop in blocks "
        f"of {args.block}, 1 thread, CPU"
    )
    for name in times:
        r = result[name]
        print(f"  {name:<26} p50 {r['p50_us']:>7.2f} us   p99 {r['p99_us']:>7.2f} us")
    print(
        f"  Stream.step / bare run at p50: {result['ratio_p50']:.2f}x (float32 rows), "
        f"{result['ratio_p50_lists']:.2f}x (lists of floats)"
    )


if __name__ == "__main__":
    main()
