"""The SQLite state store (`edgernn stream --state-dir`) at scale: checkpoint cost, keys held,
restart time, and a soak with idle spilling.

    python benchmarks/state_store.py checkpoint [--keys 100000] [--changed 1000]
    python benchmarks/state_store.py held [--keys 1000000] [--chunk 20000]
    python benchmarks/state_store.py soak [--steps 10000000] [--keys 100000] [--idle-s 2]

- ``checkpoint`` (the pool and ``StateStore`` directly): ``--keys`` keys stepped and
  committed, then ``--changed`` of them stepped and committed, then all of them: the commit's
  time next to the keys it wrote, and the old single-file store (``Pool.save_state`` and an
  atomic rewrite) at the same size.
- ``held`` (pool and store directly): ``--keys`` keys stepped in chunks and spilled into the
  database (a checkpoint per chunk), so the pool holds one chunk at most; RSS at the end and
  its peak, and the database's size. Then ``edgernn stream --state-dir`` in a fresh process
  over one record of a held key (restart: open, resume that key, first output) against the
  same command without state.
- ``soak`` (``StreamRunner`` in this process, records as mappings, so no JSON parsing or
  pipe; state_dir and idle_s as the CLI sets them): ``--steps`` records over ``--keys`` keys
  with churn (a window of active keys slides over the key space, so keys go idle, spill, and
  come back), RSS sampled every ``--every`` records.

Each prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import edgernn
from edgernn.core import snapshot
from edgernn.serve.config import RunnerConfig
from edgernn.serve.runner import StreamRunner
from edgernn.serve.store import DB_FILE, StateStore


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) / 1024 for x in f if x.startswith("VmRSS"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_all(pool: edgernn.Pool, keys: list[str], chunk: int = 4096) -> None:
    """One step for every key, ``chunk`` keys per tick."""
    rows = np.tile(np.array([[20.0, 55.0]], np.float32), (chunk, 1))  # (chunk, F)
    for i in range(0, len(keys), chunk):
        part = keys[i : i + chunk]
        pool.step_batch(part, rows[: len(part)])


def timed_commit(store: StateStore, pool: edgernn.Pool) -> dict[str, Any]:
    """One checkpoint: rows written, wall seconds, CPU seconds (the machine is shared)."""
    t, c = time.perf_counter(), time.process_time()
    n = store.commit(pool, {}, {})
    return {
        "rows": n,
        "s": round(time.perf_counter() - t, 3),
        "cpu_s": round(time.process_time() - c, 3),
    }


def checkpoint(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    model = edgernn.load(provider="cpu")
    store = StateStore(where, model)
    pool = edgernn.Pool(model, spilled=store.spilled)
    store.bind(pool)
    keys = [f"sensor-{i:07d}" for i in range(args.keys)]
    step_all(pool, keys)
    first = timed_commit(store, pool)
    rng = np.random.default_rng(0)
    some = sorted(rng.choice(args.keys, args.changed, replace=False).tolist())
    step_all(pool, [keys[i] for i in some])
    changed = timed_commit(store, pool)
    step_all(pool, keys)
    every = timed_commit(store, pool)
    t, c = time.perf_counter(), time.process_time()
    blob = pool.save_state({"last_ts": [[k, 1] for k in keys]})
    snapshot.write_atomic(where / "old.state", blob)
    old = {"bytes": len(blob), "s": round(time.perf_counter() - t, 3)}
    old["cpu_s"] = round(time.process_time() - c, 3)
    store.close()
    return {
        "keys_held": args.keys,
        "first_commit": first,
        "commit_changed": changed,
        "commit_all_changed": every,
        "old_single_file_rewrite": old,
        "db_bytes": (where / DB_FILE).stat().st_size,
        "rss_mb": round(rss_mb(), 1),
    }


def held(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    model = edgernn.load(provider="cpu")
    store = StateStore(where, model)
    pool = edgernn.Pool(model, spilled=store.spilled, idle_s=0.0)
    store.bind(pool)
    t0 = time.perf_counter()
    commit_s = []
    for start in range(0, args.keys, args.chunk):
        keys = [f"sensor-{i:07d}" for i in range(start, min(start + args.chunk, args.keys))]
        step_all(pool, keys)
        pool.evict_idle(now=time.monotonic() + 1.0)  # every key spilled: into the database
        commit_s.append(timed_commit(store, pool)["s"])
    build_s = time.perf_counter() - t0
    result: dict[str, Any] = {
        "keys_held": store.keys,
        "in_pool": len(pool),
        "build_s": round(build_s, 1),
        "commit_s_per_chunk_median": round(float(np.median(commit_s)), 3),
        "rss_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(peak_mb(), 1),
    }
    store.close()
    result["db_bytes"] = (where / DB_FILE).stat().st_size
    record = json.dumps({"sensor": f"sensor-{args.keys // 2:07d}", "temp": 21.0, "humidity": 55})
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--quiet"]
    for name, extra in (("restart_s", ["--state-dir", str(where)]), ("no_state_s", [])):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = subprocess.run(cmd + extra, input=record + "\n", capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            assert r.returncode == 0, r.stderr
        result[name] = round(float(np.median(times)), 3)
    r = subprocess.run(
        cmd + ["--state-dir", str(where)], input=record + "\n", capture_output=True, text=True
    )
    result["resumed_step"] = json.loads(r.stdout)["step"]  # > 1: the key went on
    return result


def soak(args: argparse.Namespace, where: Path) -> dict[str, Any]:
    model = edgernn.load(provider="cpu")
    cfg = RunnerConfig(key_field="sensor", state_dir=where, idle_s=args.idle_s)
    outputs = [0]

    def emit(line: dict[str, Any]) -> None:
        outputs[0] += 1

    runner = StreamRunner(model, cfg, emit=emit)
    samples: list[tuple[int, float, int, int]] = []  # (records, RSS MB, keys in pool, spilled)
    window = args.window  # keys active at a time; the window slides by one key per record

    def records():
        t0 = time.perf_counter()
        for i in range(args.steps):
            k = (i // 7 + (i % window)) % args.keys  # a sliding window: churn
            temp = 20.0 + (i % 97) / 10
            yield i + 1, {"sensor": f"k{k}", "timestamp": i, "temp": temp, "humidity": 55.0}
            if i % args.every == 0:
                pool = runner.pool
                samples.append((i, round(rss_mb(), 1), len(pool), len(pool.spilled)))
                if args.verbose:
                    took = f"{time.perf_counter() - t0:.0f}s"
                    print(samples[-1], took, file=sys.stderr, flush=True)

    t = time.perf_counter()
    stats = runner.run(records())
    took = time.perf_counter() - t
    warm = [s for s in samples if s[0] >= args.steps // 5]  # after the first fifth
    return {
        "steps": stats.steps,
        "outputs": outputs[0],
        "keys": runner.keys,
        "spills": stats.spills,
        "checkpoints": stats.checkpoints,
        "seconds": round(took, 1),
        "steps_per_s": round(stats.steps / took),
        "rss_mb_after_warmup": warm[0][1] if warm else None,
        "rss_mb_end": samples[-1][1],
        "rss_mb_max_after_warmup": max(s[1] for s in warm) if warm else None,
        "samples": samples,
        "db_bytes": (where / DB_FILE).stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["checkpoint", "held", "soak"])
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10_000_000)
    ap.add_argument("--window", type=int, default=5_000, help="soak: keys active at a time")
    ap.add_argument("--idle-s", type=float, default=2.0)
    ap.add_argument("--every", type=int, default=100_000, help="soak: RSS sample interval")
    ap.add_argument("--dir", type=Path, default=None, help="state directory (default: a temp dir)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    defaults = {"checkpoint": 100_000, "held": 1_000_000, "soak": 100_000}
    args.keys = args.keys or defaults[args.what]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = {"checkpoint": checkpoint, "held": held, "soak": soak}[args.what](args, Path(tmp))
    result["machine"] = f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
