"""Throughput of `edgernn flink run` (both operators, parallelism 1 and 2) next to `edgernn
stream` on the same records, and the latency the shard operator's buffer adds.

    .venv-flink/bin/python benchmarks/flink_throughput.py [--keys 200] [--steps 100] [--json]

Needs the flink extra (PyFlink, Java 17). Every run is a subprocess on the same JSONL file
(`--keys` sensors interleaved, `--steps` records each). A Flink job spends ~20 s starting, so
records/s is the marginal rate: (N - n) / (T(N) - T(n)) between the full file and its first
n = N / 20 records, each timed end to end (`--bounded`, one file). `edgernn stream` is timed
the same way. Latency: a paced job (`--rate` records/s, per record the time from when it was
due to when the keyed operator emitted it), per-key against shard with the default flush
settings, Python bundles of at most 10 ms for both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgernn.feeds.synth import sensor_signal


def write_feed(path: Path, keys: int, steps: int, start: float = 0.0, every: float = 1.0) -> int:
    """``keys`` sensors interleaved, ``steps`` records each; timestamps start + t * every."""
    cols = [sensor_signal(steps, seed=k) for k in range(keys)]
    with open(path, "w") as f:
        for t in range(steps):
            for k, c in enumerate(cols):
                rec = {"sensor": f"s{k}", "timestamp": start + t * every}
                rec |= {"temp": float(c["temp"][t]), "humidity": float(c["humidity"][t])}
                f.write(json.dumps(rec) + "\n")
    return keys * steps


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def marginal(run, full: Path, small: Path, n_full: int, n_small: int) -> dict[str, float]:
    t_full, t_small = run(full), run(small)
    return {
        "wall_s": round(t_full, 2),
        "startup_s": round(t_small, 2),
        "records_per_s": round((n_full - n_small) / max(t_full - t_small, 1e-9)),
    }


def stream_runner(tmp: Path):
    def run(src: Path) -> float:
        out = tmp / "stream-out.jsonl"
        cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--quiet"]
        return timed([*cmd, "--source", str(src), "--sink", str(out)])

    return run


def flink_runner(tmp: Path, operator: str, p: int):
    def run(src: Path) -> float:
        folder = tmp / f"in-{src.stem}"
        folder.mkdir(exist_ok=True)
        (folder / src.name).write_bytes(src.read_bytes())
        out = tempfile.mkdtemp(dir=tmp)
        cmd = [sys.executable, "-m", "edgernn", "flink", "run", "--key", "sensor", "--bounded"]
        cmd += ["--source", folder.as_uri() + "/", "--sink", Path(out).as_uri() + "/"]
        cmd += ["--operator", operator, "-p", str(p), "--checkpoint-dir"]
        return timed([*cmd, Path(tempfile.mkdtemp(dir=tmp)).as_uri(), "--checkpoint-ms", "2000"])

    return run


def latency(tmp: Path, operator: str, keys: int, rate: float, seconds: float) -> dict[str, float]:
    """Per record: emitted (after the keyed operator) minus due (its paced send time), ms."""
    from pyflink.datastream import MapFunction

    from edgernn.flink import job
    from edgernn.flink.config import FlinkConfig

    steps = max(2, int(rate * seconds / keys))
    folder = tmp / f"lat-{operator}"
    folder.mkdir()
    write_feed(folder / "a.jsonl", keys, steps, 0.0, keys / rate)  # record t*keys+k due at ts
    notes = tmp / f"lat-{operator}-notes"
    notes.mkdir()
    t0_file = str(notes / "t0")

    class Pace(MapFunction):  # releases each record when it is due (its timestamp)
        def open(self, ctx):
            self.t0 = None

        def map(self, value):
            if self.t0 is None:
                self.t0 = time.time()
                Path(t0_file).write_text(repr(self.t0))
            wait = self.t0 + value.timestamp - time.time()
            if wait > 0:
                time.sleep(wait)
            return value

    cfg = FlinkConfig(
        "",
        folder.as_uri() + "/",
        (tmp / f"lat-{operator}-out").as_uri() + "/",
        key_field="sensor",
        operator=operator,
        bounded=True,
        checkpoint_dir=(tmp / f"lat-{operator}-ckpt").as_uri(),
        options={"python.fn-execution.bundle.time": "10", "python.fn-execution.bundle.size": "50"},
    )
    # the keyed operator's output, timed as it leaves (one line per record, appended)
    lat_file = str(notes / "lat")

    class Clock(MapFunction):
        def open(self, ctx):
            self.t0 = None
            self.f = open(f"{lat_file}-{ctx.get_index_of_this_subtask()}", "a")

        def map(self, line):
            if self.t0 is None:
                self.t0 = float(Path(t0_file).read_text())
            due = self.t0 + json.loads(line)["timestamp"]
            self.f.write(f"{(time.time() - due) * 1e3:.2f}\n")
            self.f.flush()
            return line

    # edgernn's pipeline with the pace before the keyed operator and the clock after it
    env = job.environment(cfg)
    _clocked(env, cfg, Pace, Clock)
    env.execute(f"latency-{operator}")
    ms = [float(x) for p in notes.glob("lat-*") for x in p.read_text().split()]
    ms.sort()
    return {
        "records": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
    }


def _clocked(env, cfg, pace, clock) -> None:
    from pyflink.common import Types, WatermarkStrategy

    from edgernn.flink.job import _sink, _source
    from edgernn.flink.operators import Parse, PerKey, Shard
    from edgernn.flink.steps import shard_of

    lines = env.from_source(_source(cfg), WatermarkStrategy.no_watermarks(), "source")
    parsed = lines.process(Parse(cfg)).map(pace())
    shards = cfg.shards
    if cfg.operator == "per-key":
        out = parsed.key_by(lambda p: p.key, Types.STRING()).process(PerKey(cfg), Types.STRING())
    else:
        keyed = parsed.key_by(lambda p: shard_of(p.key, shards), Types.INT())
        out = keyed.process(Shard(cfg), Types.STRING())
    _sink(out.map(clock(), Types.STRING()), cfg, "sink", "latency")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=500.0, help="paced records/s (latency)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    tmp = Path(tempfile.mkdtemp(prefix="edgernn-flink-bench-"))
    full, small = tmp / "full.jsonl", tmp / "small.jsonl"
    n = write_feed(full, args.keys, args.steps)
    n_small = write_feed(small, args.keys, max(1, args.steps // 20))
    rows = {"edgernn stream": marginal(stream_runner(tmp), full, small, n, n_small)}
    for operator in ("shard", "per-key"):
        for p in (1, 2):
            run = flink_runner(tmp, operator, p)
            rows[f"flink {operator} p={p}"] = marginal(run, full, small, n, n_small)
    lat = {op: latency(tmp, op, 20, args.rate, 10.0) for op in ("per-key", "shard")}
    result = {"records": n, "keys": args.keys, "throughput": rows, "latency": lat}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{n} records, {args.keys} keys")
    print("| run | records/s | wall s (all records) | wall s (first 5%) |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['records_per_s']:,} | {r['wall_s']} | {r['startup_s']} |")
    print("\n| operator | paced records | p50 ms | p99 ms |\n|---|---|---|---|")
    for op, r in lat.items():
        print(f"| {op} | {r['records']} | {r['p50_ms']} | {r['p99_ms']} |")


if __name__ == "__main__":
    main()
