"""Single-stream step latency: edgernn ``Stream.step`` next to a bare ``InferenceSession.run``.

Both step the same graph one time step at a time with the state fed back; the bare loop is
what a user would write by hand (numpy feeds, a dict per call, outputs allocated by ORT).

    python benchmarks/step_latency.py [MODEL] [--steps 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import onnxruntime as ort

import edgernn
from edgernn.synth import sensor_signal


def percentiles(ns: list[int]) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64) / 1e3
    return {"p50_us": round(float(np.percentile(a, 50)), 2), "p99_us": round(float(np.percentile(a, 99)), 2),
            "mean_us": round(float(a.mean()), 2)}


def bare_run(model: edgernn.Model, rows: np.ndarray) -> list[int]:
    """The hand-written loop: scale, feed numpy arrays, take the new state back."""
    sig = model.signature
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(model.path), so, providers=["CPUExecutionProvider"])
    states = model.initial_state(1)
    x = sig.input_scaler.transform(rows)  # (T, F)
    times = []
    for t in range(len(rows)):
        t0 = time.perf_counter_ns()
        feeds = {sig.input_name: x[None, t : t + 1]}
        feeds.update({s.input: v for s, v in zip(sig.states, states)})
        y, *states = sess.run(None, feeds)
        times.append(time.perf_counter_ns() - t0)
    return times


def edgernn_step(model: edgernn.Model, rows: np.ndarray) -> list[int]:
    s = model.stream()
    times = []
    for row in rows:
        t0 = time.perf_counter_ns()
        s.step(row)
        times.append(time.perf_counter_ns() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = edgernn.load(args.model, provider="cpu")
    sig = model.signature
    s = sensor_signal(args.steps + 1000, seed=11)
    rows = np.stack([s[f] for f in sig.features], axis=1)
    warm, rows = rows[:1000], rows[1000:]
    bare_run(model, warm), edgernn_step(model, warm)
    result = {"model": model.path.name, "arch": sig.arch, "layers": list(sig.layers), "steps": args.steps,
              "bare_session_run": percentiles(bare_run(model, rows)),
              "edgernn_stream_step": percentiles(edgernn_step(model, rows))}
    result["ratio_p50"] = round(result["edgernn_stream_step"]["p50_us"] / result["bare_session_run"]["p50_us"], 3)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{model.path.name}: {sig.arch} {list(sig.layers)}, {args.steps} steps, 1 thread, CPU")
    for name in ("bare_session_run", "edgernn_stream_step"):
        r = result[name]
        print(f"  {name:<22} p50 {r['p50_us']:>7.2f} us   p99 {r['p99_us']:>7.2f} us")
    print(f"  Stream.step / bare run at p50: {result['ratio_p50']:.2f}x")


if __name__ == "__main__":
    main()
