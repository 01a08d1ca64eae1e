"""Stream pool at scale: throughput against a bare batched run, bytes per stream, and a soak.

    python benchmarks/pool_scaling.py [--model M.onnx] [--soak-steps 10000000] [--json]

1. throughput: 1024 streams all stepping every tick, `Pool.step_batch` vs one bare
   `InferenceSession.run` over the same (1024, 1, F) batch with the state fed back;
2. memory: resident memory after growing the pool to 1k, 4k, 16k and 64k streams, per stream,
   next to the bytes of state each stream really holds;
3. soak: `--soak-steps` stream-steps over 10 000 keys with churn (each tick a random half of
   the keys steps, 1% of keys leave and new ones join, idle ones are spilled), RSS sampled as it
   goes: after warm-up it must stay flat.
Needs an LSTM 2x64 model with 2 features (the default builds one with the train extra).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import edgernn


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def lstm_2x64() -> Path:
    """A random-weight LSTM 64,64 forecaster (2 features), exported with verified parity."""
    from edgernn.signature import Scaler
    from edgernn.train.checkpoint import load_checkpoint, save_checkpoint
    from edgernn.train.export import export_model
    from edgernn.train.models import Forecaster, ForecasterConfig

    d = Path(tempfile.mkdtemp())
    model = Forecaster(ForecasterConfig("lstm", 2, 1, (64, 64)))
    sig = {"task": "forecast", "arch": "lstm", "layers": (64, 64), "features": ("temp", "humidity"), "targets": ("temp",),
           "input_scaler": Scaler("standard", (20.0, 60.0), (3.0, 6.0)), "target_scaler": Scaler("standard", (20.0,), (3.0,)),
           "window": 50, "anomaly_threshold": 4.0, "provenance": {"data": "random weights (benchmark)"}}
    save_checkpoint(d / "c.pt", model, sig, {}, {})
    export_model(load_checkpoint(d / "c.pt"), d / "lstm-2x64.onnx")
    return d / "lstm-2x64.onnx"


def timed(f, n: int) -> float:
    for _ in range(max(3, n // 10)):
        f()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def throughput(model, B: int = 1024, reps: int = 300) -> dict:
    sig = model.signature
    rows = (np.random.default_rng(0).normal(size=(B, 2)) * 3 + [20, 60]).astype(np.float32)
    feeds = {sig.input_name: sig.input_scaler.transform(rows)[:, None, :]}
    feeds.update({s.input: v for s, v in zip(sig.states, model.initial_state(B))})
    names = [sig.output_name] + [s.output for s in sig.states]

    def bare() -> None:
        _, *new = model.session.run(names, feeds)
        feeds.update({s.input: v for s, v in zip(sig.states, new)})

    pool, keys = model.pool(capacity=B), list(range(B))
    t_bare = timed(bare, reps)
    t_pool = timed(lambda: pool.step_batch(keys, rows), reps)
    return {"streams": B, "bare_run_us_per_tick": round(t_bare * 1e6, 1), "pool_us_per_tick": round(t_pool * 1e6, 1),
            "pool_us_per_stream_step": round(t_pool * 1e6 / B, 3), "pool_vs_bare_throughput": round(t_bare / t_pool, 3)}


def memory(model) -> dict:
    state_bytes = sum(s.zeros(1).nbytes for s in model.signature.states)
    out, pool, row = {}, model.pool(capacity=1024), np.array([[20.0, 60.0]], np.float32)
    base, n = rss_mb(), 0
    for target in (1024, 4096, 16384, 65536):
        while n < target:
            keys = list(range(n, min(n + 1024, target)))
            pool.step_batch(keys, np.repeat(row, len(keys), axis=0))
            n += len(keys)
        out[target] = round((rss_mb() - base) * 2**20 / target, 1)
    return {"state_bytes_per_stream": state_bytes, "rss_bytes_per_stream": out,
            "note": "two state sets per slot (live + spare) plus per-slot anomaly statistics and last input/forecast; capacity doubles"}


def soak(model, total_steps: int, n_keys: int = 10_000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    pool = model.pool(capacity=n_keys, idle_s=0.5)
    live, next_key, done, samples, t0 = list(range(n_keys)), n_keys, 0, [], time.perf_counter()
    while done < total_steps:
        ready = rng.choice(len(live), size=len(live) // 2, replace=False)
        keys = [live[i] for i in ready]
        rows = (rng.normal(size=(len(keys), 2)) * 3 + [20, 60]).astype(np.float32)
        pool.step_batch(keys, rows)
        done += len(keys)
        for i in rng.choice(len(live), size=len(live) // 100, replace=False):  # churn: 1% leave, new ones join
            if live[i] in pool:
                pool.remove(live[i])
            pool.spilled.pop(live[i], None)
            live[i], next_key = next_key, next_key + 1
        pool.evict_idle()
        if not samples or done - samples[-1][0] >= total_steps // 20:
            samples.append((done, round(rss_mb(), 1)))
    warm = [r for s, r in samples if s >= total_steps // 5]
    return {"stream_steps": done, "keys": n_keys, "seconds": round(time.perf_counter() - t0, 1),
            "rss_mb_samples": samples, "rss_growth_after_warmup_mb": round(max(warm) - min(warm), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="an exported LSTM 2x64 (default: build one)")
    ap.add_argument("--soak-steps", type=int, default=10_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = edgernn.load(args.model or lstm_2x64(), provider="cpu", intra_op_threads=1)
    result = {"model": f"{model.signature.arch} {list(model.signature.layers)}", "throughput": throughput(model),
              "memory": memory(model), "soak": soak(model, args.soak_steps)}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
