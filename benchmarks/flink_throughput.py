"""Throughput of edgernn's Flink job (both operators, parallelism 1 and 2) next to `edgernn
stream` on the same records, and the latency the shard operator's buffer adds.

    .venv-flink/bin/python benchmarks/flink_throughput.py [--keys 200] [--steps 100] [--json]

Needs the flink extra (PyFlink, Java 17). The records (`--keys` sensors interleaved, `--steps`
records each) are JSON lines in 4 files (each key in one file), read with `--bounded` on a
local mini-cluster. A Flink job spends ~20-30 s starting, which is not what a long-running job
pays per record, so each job is timed from inside: a pass-through map after the parser notes
when the first record arrives, one after the keyed operator when the last output leaves;
records/s = records / (last out - first in). `edgernn stream` is timed in-process over the
same lines (its runner, parse included). Latency: the records are paced at `--rate` records/s
(each released when its timestamp is due; one file, parallelism 1) and the same clock notes
how long after that each output leaves the keyed operator; one record per Python bundle.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from edgernn.feeds.synth import sensor_signal

FILES = 4


def write_feed(
    folder: Path, keys: int, steps: int, every: float = 1.0, files: int = FILES
) -> list[str]:
    """``keys`` sensors interleaved, ``steps`` records each, record i at timestamp i * every,
    spread over ``files`` files (key k in file k % files); returns every line in input order."""
    folder.mkdir(parents=True)
    cols = [sensor_signal(steps, seed=k) for k in range(keys)]
    lines: list[list[str]] = [[] for _ in range(files)]
    every_line = []
    for t in range(steps):
        for k, c in enumerate(cols):
            rec = {"sensor": f"s{k}", "timestamp": round((t * keys + k) * every, 6)}
            rec |= {"temp": float(c["temp"][t]), "humidity": float(c["humidity"][t])}
            lines[k % files].append(json.dumps(rec))
            every_line.append(lines[k % files][-1])
    for i, part in enumerate(lines):
        (folder / f"part-{i}.jsonl").write_text("\n".join(part) + "\n")
    return every_line


def stream_rate(lines: list[str]) -> float:
    """Records/s of `edgernn stream --key sensor`'s runner over ``lines`` (in-process)."""
    import edgernn
    from edgernn.serve.config import RunnerConfig
    from edgernn.serve.runner import StreamRunner

    outs: list[dict] = []
    runner = StreamRunner(edgernn.load(provider="cpu"), RunnerConfig("sensor"), outs.append)
    t0 = time.perf_counter()
    runner.run(enumerate(lines, 1))
    elapsed = time.perf_counter() - t0
    assert len(outs) == len(lines)
    return len(lines) / elapsed


def flink_job(tmp: Path, name: str, src: Path, operator: str, p: int, pace: bool) -> list[float]:
    """Run one clocked job; returns [first in, last out] (pace=False) or per-output latencies
    in ms (pace=True)."""
    from pyflink.common import Types, WatermarkStrategy
    from pyflink.datastream import MapFunction

    from edgernn.flink import job
    from edgernn.flink.config import FlinkConfig
    from edgernn.flink.job import _sink, _source
    from edgernn.flink.operators import Parse, PerKey, Shard
    from edgernn.flink.steps import shard_of

    notes = tmp / f"{name}-notes"
    notes.mkdir()
    t0_file = str(tmp / "t0")

    class First(MapFunction):  # notes the first record's arrival; paces records when asked
        def open(self, ctx):
            self.t0 = None
            self.path = f"{notes}/in-{ctx.get_index_of_this_subtask()}"

        def map(self, value):
            if self.t0 is None:
                self.t0 = time.time()
                Path(self.path).write_text(repr(self.t0))
                if pace:
                    Path(t0_file).write_text(repr(self.t0))
            if pace:
                wait = self.t0 + value.timestamp - time.time()
                if wait > 0:
                    time.sleep(wait)
            return value

    class Last(MapFunction):  # notes each output's time (or latency, when paced)
        def open(self, ctx):
            self.t0 = None
            self.f = open(f"{notes}/out-{ctx.get_index_of_this_subtask()}", "a")

        def map(self, line):
            now = time.time()
            if pace:
                if self.t0 is None:
                    self.t0 = float(Path(t0_file).read_text())
                due = self.t0 + json.loads(line)["timestamp"]
                self.f.write(f"{(now - due) * 1e3:.3f}\n")
            else:
                self.f.write(f"{now!r}\n")
            self.f.flush()
            return line

    # paced: one record per bundle, so an output leaves Python as soon as it is made
    options = {"python.fn-execution.bundle.size": "1"} if pace else {}
    cfg = FlinkConfig(
        "",
        src.as_uri() + "/",
        (tmp / f"{name}-out").as_uri() + "/",
        key_field="sensor",
        operator=operator,
        parallelism=p,
        bounded=True,
        checkpoint_dir=(tmp / f"{name}-ckpt").as_uri(),
        checkpoint_ms=5000,
        options=options,
    )
    env = job.environment(cfg)
    lines = env.from_source(_source(cfg), WatermarkStrategy.no_watermarks(), "source")
    parsed = lines.process(Parse(cfg)).map(First())
    if operator == "per-key":
        out = parsed.key_by(lambda r: r.key, Types.STRING()).process(PerKey(cfg), Types.STRING())
    else:
        shards = cfg.shards
        keyed = parsed.key_by(lambda r: shard_of(r.key, shards), Types.INT())
        out = keyed.process(Shard(cfg), Types.STRING())
    _sink(out.map(Last(), Types.STRING()), cfg, "sink", "out")
    env.execute(name)
    outs = [float(x) for f in notes.glob("out-*") for x in f.read_text().split()]
    if pace:
        return outs
    first = min(float(f.read_text()) for f in notes.glob("in-*"))
    return [first, max(outs), len(outs)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rate", type=float, default=200.0, help="paced records/s (latency)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the paced run")
    ap.add_argument("--parts", default="throughput,latency", help="what to measure")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    tmp = Path(tempfile.mkdtemp(prefix="edgernn-flink-bench-"))
    lines = write_feed(tmp / "in", args.keys, args.steps)
    n = len(lines)
    rows = {"edgernn stream (one process)": round(stream_rate(lines))}
    for p in (
        (1, 2) if "throughput" in args.parts else ()
    ):  # p=1 first: p=2 switches this process to Python worker processes
        for operator in ("shard", "per-key"):
            first, last, count = flink_job(tmp, f"{operator}-p{p}", tmp / "in", operator, p, False)
            assert count == n, (operator, p, count, n)
            rows[f"flink {operator}, parallelism {p}"] = round(n / (last - first))
    # latency: 20 keys in one file (one reader paces them all) at --rate, parallelism 1
    keys = 20
    paced = tmp / "paced"
    write_feed(paced, keys, max(2, int(args.rate * args.seconds / keys)), 1 / args.rate, 1)
    lat = {}
    for operator in ("per-key", "shard") if "latency" in args.parts else ():
        ms = sorted(flink_job(tmp, f"lat-{operator}", paced, operator, 1, True))
        lat[operator] = {
            "records": len(ms),
            "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
        }
    result = {"records": n, "keys": args.keys, "records_per_s": rows, "latency": lat}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{n} records, {args.keys} keys, {FILES} files")
    print("| run | records/s |\n|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r:,} |")
    print(f"\npaced at {args.rate:g} records/s, {keys} keys, parallelism 1")
    print("| operator | outputs | p50 ms | p99 ms |\n|---|---|---|---|")
    for op, r in lat.items():
        print(f"| {op} | {r['records']} | {r['p50_ms']} | {r['p99_ms']} |")


if __name__ == "__main__":
    main()
