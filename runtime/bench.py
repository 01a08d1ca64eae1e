"""Measure an exported model on this machine: step latency, throughput over stream counts,
chunking, the sgemm hardware line, and process start-up. Behind ``edgernn bench``.

Every measurement runs edgernn next to what a user would otherwise write by hand, a bare
``onnxruntime.InferenceSession.run`` with numpy feeds (same graph, same threads, spinning
off, inputs already scaled), interleaved in blocks so that a noisy neighbour hits both.
Ratios are the robust numbers; absolute times come with their spread.

FLOPs per stream-step count the matrix products only: 2*G*H*(I+H) per recurrent layer (G = 1
for RNN, 3 for GRU, 4 for LSTM) plus 2*H*K for the dense head. Biases, activations and the
state update (O(10*H) per layer) are not counted, so achieved GFLOP/s is a lower bound.

The hardware line is numpy's float32 matmul measured in a child process started with
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS set to the thread count (numpy's
BLAS fixes its threads when it is first imported): once at the batched problem's shapes,
(B, I+H) x (I+H, G*H) per layer for each stream count B, and once as a square 1024^3.

Torch-free and onnx-free: numpy and onnxruntime only. The JSON fields are listed in
``edgernn bench --help``; ``run_bench`` returns them.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from edgernn.errors import UsageError
from edgernn.providers import provider_list

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
Progress = Callable[[str], None]
Step = Callable[[int], Any]  # one timed call; the argument picks the input


# ---- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Repeat:
    """How long each measurement runs."""

    steps: int  # timed single-stream steps (after warm-up)
    warmup: int  # untimed steps first, for each loop
    budget_s: float  # wall time per sweep point or chunk size, for each loop
    min_reps: int  # at least this many timed ticks / calls per point
    startup_runs: int  # fresh processes timed for start-up


PRESETS = {
    "small": Repeat(steps=200, warmup=50, budget_s=0.03, min_reps=3, startup_runs=1),
    "normal": Repeat(steps=5000, warmup=500, budget_s=0.4, min_reps=10, startup_runs=3),
    "large": Repeat(steps=50000, warmup=2000, budget_s=3.0, min_reps=30, startup_runs=7),
}


def parse_repeat(text: str) -> Repeat:
    """A preset name (small, normal, large) or a number of timed single-stream steps."""
    if text in PRESETS:
        return PRESETS[text]
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 10:
        raise UsageError(f"--repeat {text!r} is neither {', '.join(PRESETS)} nor a whole number >= 10")
    return Repeat(steps=n, warmup=max(n // 10, 20), budget_s=min(max(n / 12500, 0.02), 5.0),
                  min_reps=3 if n < 1000 else 10, startup_runs=1 if n < 1000 else 3)


def parse_sizes(text: str, option: str) -> tuple[int, ...]:
    """'1,16,64' -> (1, 16, 64); a one-line UsageError for anything else."""
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError(f"{option} {text!r} is not a comma-separated list of positive whole numbers (e.g. 1,16,64)")
    return tuple(dict.fromkeys(sizes))


@dataclass(frozen=True)
class BenchConfig:
    streams: tuple[int, ...] = (1, 16, 64, 256, 1024, 4096)  # stream counts of the sweep
    chunks: tuple[int, ...] = (1, 10, 100)  # steps per call of the chunk measurement
    repeat: Repeat = PRESETS["normal"]
    startup: bool = True  # time fresh `edgernn stream` processes
    seed: int = 0  # of the random inputs


@dataclass
class BenchRun:
    """The JSON result, plus the raw single-stream samples (ns) for plots."""

    result: dict[str, Any]
    samples: dict[str, np.ndarray] = field(default_factory=dict)


# ---- timing primitives ---------------------------------------------------------------------
def percentiles(ns: np.ndarray) -> dict[str, float]:
    """p50, p90, p99, max and mean in microseconds of per-call nanoseconds."""
    us = np.asarray(ns, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {k: round(float(v), 3) for k, v in
            (("p50", p50), ("p90", p90), ("p99", p99), ("max", us.max()), ("mean", us.mean()))}


def time_calls(fn: Step, n: int, start: int = 0) -> np.ndarray:
    """Wall time in ns of each of ``n`` calls ``fn(start + i)``."""
    out = [0] * n
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(start + i)
        out[i] = clock() - t0
    return np.asarray(out, dtype=np.int64)


def interleaved(fns: dict[str, Step], n: int, warmup: int, blocks: int = 10) -> dict[str, np.ndarray]:
    """Time ``n`` calls of each function, alternating in ``blocks`` so drift hits all alike."""
    for fn in fns.values():
        time_calls(fn, warmup)
    gc.collect()
    blocks = max(1, min(blocks, n))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    for b in range(blocks):
        size = n // blocks + (b < n % blocks)
        for name, fn in fns.items():
            parts[name].append(time_calls(fn, size, warmup + sum(len(p) for p in parts[name])))
    return {name: np.concatenate(p) for name, p in parts.items()}


def reps_for(fns: dict[str, Step], repeat: Repeat) -> int:
    """How many timed calls fit the time budget (from two untimed calls of each)."""
    for fn in fns.values():
        fn(0)
    t = sum(float(np.median(time_calls(fn, 2))) for fn in fns.values()) / 1e9
    return int(min(max(repeat.budget_s / max(t, 1e-9), repeat.min_reps), max(repeat.steps, repeat.min_reps)))


# ---- what a step costs -----------------------------------------------------------------------
def flops_per_step(sig) -> int:
    """Matrix-product FLOPs of one stream-step (gates of every layer and the head)."""
    return sum(2 * GATES[sig.arch] * h * (i + h) for i, h in layer_shapes(sig)) + 2 * sig.layers[-1] * len(sig.targets)


def layer_shapes(sig) -> list[tuple[int, int]]:
    """(input size, hidden size) of each recurrent layer."""
    sizes_in = (len(sig.features),) + tuple(sig.layers[:-1])
    return list(zip(sizes_in, sig.layers))


def sample_rows(sig, n: int, seed: int = 0) -> np.ndarray:
    """``n`` valid input rows (n, F) in user units: offset + scale * N(0, 1) per feature."""
    offset, scale = (np.asarray(v, dtype=np.float32) for v in (sig.input_scaler.offset, sig.input_scaler.scale))
    z = np.random.default_rng(seed).standard_normal((n, len(sig.features))).astype(np.float32)
    return offset + scale * z


# ---- the loops: edgernn and a bare ONNX Runtime session --------------------------------------
def bare_session(model) -> ort.InferenceSession:
    """The session a user would make by hand: same graph, provider and threads, spinning off."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = model.config.intra_op_threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    # the same providers with the same options (TF32 off on CUDA, TensorRT's engine cache), but no
    # CUDA graph: a plain run() with numpy feeds cannot replay one
    providers = provider_list(dataclasses.replace(model.config, cuda_graph=False), model.provider)
    return ort.InferenceSession(str(model.path), so, providers=providers)


def bare_loop(session: ort.InferenceSession, sig, xs: list[np.ndarray], batch: int) -> Step:
    """``session.run`` with numpy feeds over ``batch`` stacked streams; x already in model units."""
    names = [s.input for s in sig.states]
    states = [s.zeros(batch) for s in sig.states]

    def step(i: int) -> None:
        nonlocal states
        feeds = {sig.input_name: xs[i % len(xs)]}
        feeds.update(zip(names, states))
        _, *states = session.run(None, feeds)

    return step


def edgernn_batch(model, rows: list[np.ndarray], batch: int) -> tuple[Step, str]:
    """edgernn stepping ``batch`` streams per tick; rows (batch, F) user units.

    The stream pool when the model has one; until then ``Model.run`` over stacked states,
    with the same scaling both ways a pool does. The label says which was measured.
    """
    sig = model.signature
    if hasattr(model, "pool"):
        pool = model.pool(capacity=batch)
        keys = [f"s{k}" for k in range(batch)]
        return (lambda i: pool.step_batch(keys, rows[i % len(rows)])), "used"
    states = model.initial_state(batch)

    def step(i: int) -> None:
        nonlocal states
        y, states = model.run(sig.input_scaler.transform(rows[i % len(rows)])[:, None], states)
        sig.target_scaler.inverse(y[:, 0])

    return step, "not available"


def single_stream(model, session, rows: np.ndarray, repeat: Repeat) -> tuple[dict, dict[str, np.ndarray]]:
    """Stream.step vs a bare run(), one stream, one step per call."""
    sig, stream = model.signature, model.stream()
    user = list(rows)
    scaled = list(sig.input_scaler.transform(rows)[:, None, None, :])  # each (1, 1, F)
    samples = interleaved({"edgernn": lambda i: stream.step(user[i % len(user)]),
                           "bare_ort": bare_loop(session, sig, scaled, 1)}, repeat.steps, repeat.warmup)
    out = {"steps": repeat.steps, "warmup": repeat.warmup,
           "edgernn_us": percentiles(samples["edgernn"]), "bare_ort_us": percentiles(samples["bare_ort"])}
    out["ratio_p50"] = round(out["edgernn_us"]["p50"] / out["bare_ort_us"]["p50"], 3)
    return out, samples


def sweep_point(model, session, batch: int, repeat: Repeat, flops: int, seed: int) -> tuple[dict, str]:
    """One tick = one step of each of ``batch`` streams; edgernn and bare interleaved."""
    sig = model.signature
    user = [sample_rows(sig, batch, seed + k) for k in range(4)]
    scaled = [sig.input_scaler.transform(r)[:, None, :] for r in user]  # (B, 1, F)
    edge, label = edgernn_batch(model, user, batch)
    fns = {"edgernn": edge, "bare_ort": bare_loop(session, sig, scaled, batch)}
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point = {"streams": batch, "ticks": n}
    for name, ns in samples.items():
        tick = percentiles(ns)
        per_step_s = tick["p50"] / 1e6 / batch
        point[name] = {"tick_us": tick, "per_stream_step_us": round(per_step_s * 1e6, 4),
                       "stream_steps_per_s": round(1 / per_step_s), "gflops": round(flops / per_step_s / 1e9, 3)}
    return point, label


def chunk_point(model, session, chunk: int, repeat: Repeat, seed: int) -> dict:
    """``Stream.steps`` of ``chunk`` rows vs one bare run() over (1, chunk, F)."""
    sig, stream = model.signature, model.stream()
    user = [sample_rows(sig, chunk, seed + k) for k in range(4)]
    scaled = [sig.input_scaler.transform(r)[None] for r in user]  # (1, T, F)
    fns = {"edgernn": lambda i: stream.steps(user[i % len(user)]), "bare_ort": bare_loop(session, sig, scaled, 1)}
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point = {"chunk": chunk, "calls": n}
    for name, ns in samples.items():
        call = percentiles(ns)
        point[name] = {"call_us": call, "per_step_us": round(call["p50"] / chunk, 4),
                       "steps_per_s": round(chunk * 1e6 / call["p50"])}
    return point


# ---- the hardware line ---------------------------------------------------------------------
SGEMM_SCRIPT = r"""
import json, sys, time
import numpy as np
shapes, budget = json.loads(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
out = []
for m, k, n in shapes:
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    ts, end = [], time.perf_counter() + budget
    while time.perf_counter() < end or len(ts) < 5:
        t0 = time.perf_counter_ns(); np.matmul(a, b, out=c); ts.append(time.perf_counter_ns() - t0)
    out.append(float(np.median(ts)))
print(json.dumps(out))
"""


def sgemm_ns(shapes: list[tuple[int, int, int]], threads: int, budget_s: float) -> list[float]:
    """Median ns of numpy float32 (m, k) x (k, n) per shape, in a child with ``threads`` BLAS threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, "-c", SGEMM_SCRIPT, json.dumps(shapes), str(budget_s)],
                       env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}")
    return json.loads(r.stdout)


def hardware_line(sig, streams: tuple[int, ...], threads: int, repeat: Repeat, square: int = 1024) -> dict:
    """Single- (or ``threads``-) thread sgemm GFLOP/s: square, and at each stream count's shapes."""
    layers = [(i + h, GATES[sig.arch] * h) for i, h in layer_shapes(sig)]
    shapes = [(square, square, square)] + [(b, k, n) for b in streams for k, n in layers]
    ns = sgemm_ns(shapes, threads, budget_s=min(max(repeat.budget_s / 4, 0.02), 0.5))
    matched = {}
    for j, b in enumerate(streams):
        part = ns[1 + j * len(layers): 1 + (j + 1) * len(layers)]
        matched[str(b)] = round(sum(2 * b * k * n for k, n in layers) / sum(part), 3)
    return {"threads": threads, "square": {"n": square, "gflops": round(2 * square**3 / ns[0], 3)},
            "matched_gflops": matched, "shapes": "(B, I+H) x (I+H, G*H) per layer, time-weighted over layers",
            "method": "numpy float32 matmul, median, in a child process with OPENBLAS/OMP/MKL_NUM_THREADS set"}


def add_fractions(result: dict) -> None:
    """Each sweep point's achieved GFLOP/s as a fraction of the matched and the square sgemm."""
    hw = result.get("hardware") or {}
    if "square" not in hw:
        return
    for point in result.get("streams", []):
        matched = hw["matched_gflops"].get(str(point["streams"]))
        point["sgemm_gflops"] = matched
        for name in ("edgernn", "bare_ort"):
            g = point[name]["gflops"]
            point[name]["sgemm_fraction"] = round(g / matched, 4) if matched else None
            point[name]["square_fraction"] = round(g / hw["square"]["gflops"], 4)


# ---- the machine and the process ----------------------------------------------------------
def machine() -> dict:
    """CPU model, cores, relevant SIMD flags, memory, OS and versions."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {"cpu": info.get("model name", platform.processor() or platform.machine()),
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "flags": [f for f in CPU_FLAGS if f in flags], "memory_gb": _memory_gb(),
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "onnxruntime": ort.__version__}


def _cpuinfo() -> dict[str, str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            pairs = (line.split(":", 1) for line in f if ":" in line)
            return {k.strip(): v.strip() for k, v in reversed(list(pairs))}  # the first CPU's values win
    except OSError:
        return {}


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def startup(model, runs: int, n_records: int = 50) -> dict:
    """Fresh ``edgernn stream MODEL`` processes fed valid records: seconds to the first
    output line and peak RSS (median of ``runs``), in this Python environment."""
    sig = model.signature
    rows = sample_rows(sig, n_records, seed=99)
    feed = "".join(json.dumps(dict(zip(sig.features, map(float, r)))) + "\n" for r in rows).encode()
    cmd = [sys.executable, "-m", "edgernn", "stream", str(model.path), "--source", "-", "--quiet",
           "--provider", model.provider, "--threads", str(model.config.intra_op_threads)]
    firsts, rss = zip(*(_first_output(cmd, feed) for _ in range(runs)))
    return {"runs": runs, "first_output_s": round(float(np.median(firsts)), 4), "first_output_s_min": round(min(firsts), 4),
            "peak_rss_mb": None if None in rss else round(float(np.median(rss)), 1),
            "command": "python -m edgernn stream MODEL --source - (JSONL records on stdin)"}


# A child's ru_maxrss starts at its parent's high-water mark (Linux carries it over exec), so
# a big benchmark process would inflate it: a small launcher starts and measures the stream.
LAUNCHER = r"""
import json, os, subprocess, sys, time
feed = sys.stdin.buffer.read()
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
proc.stdin.write(feed); proc.stdin.close()
line = proc.stdout.readline()
first = time.perf_counter() - t0
proc.stdout.read()
err = proc.stderr.read().decode(errors="replace").strip()
if hasattr(os, "wait4"):
    _, status, usage = os.wait4(proc.pid, 0)
    rc, rss = os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024
else:
    rc, rss = proc.wait(), None
print(json.dumps({"first_s": first, "rss_mb": rss, "rc": rc, "line": bool(line), "error": err[-300:]}))
"""


def _first_output(cmd: list[str], feed: bytes) -> tuple[float, float | None]:
    """(seconds to the first stdout line, peak RSS in MB or None) of one fresh process."""
    r = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *cmd], input=feed, capture_output=True, timeout=300)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError(f"the start-up launcher failed: {r.stderr.decode(errors='replace').strip()[-200:]}") from None
    if out["rc"] != 0 or not out["line"]:
        raise RuntimeError(out["error"].splitlines()[-1] if out["error"] else f"`edgernn stream` exited {out['rc']}")
    return out["first_s"], out["rss_mb"]


# ---- the whole run ---------------------------------------------------------------------------
def run_bench(model, config: BenchConfig = BenchConfig(), progress: Progress = lambda _: None) -> BenchRun:
    """Every measurement in turn. Ctrl-C stops it cleanly: what is done is returned, with
    ``interrupted`` true."""
    from edgernn import __version__

    sig = model.signature
    threads = model.config.intra_op_threads or os.cpu_count() or 1
    flops = flops_per_step(sig)
    result: dict[str, Any] = {
        "edgernn": __version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"path": str(model.path), "id": model.model_id, "arch": sig.arch, "layers": list(sig.layers),
                  "features": len(sig.features), "targets": len(sig.targets), "flops_per_step": flops},
        "run": {"provider": model.provider, "provider_note": model.provider_note, "threads": model.config.intra_op_threads,
                "repeat": asdict(config.repeat), "streams": list(config.streams), "chunks": list(config.chunks)},
        "machine": machine(), "pool": "used" if hasattr(model, "pool") else "not available",
        "single_stream": None, "hardware": None, "streams": [], "chunks": [], "startup": None, "interrupted": False,
    }
    run = BenchRun(result)
    try:
        _measure(model, config, run, threads, progress)
    except KeyboardInterrupt:
        result["interrupted"] = True
    add_fractions(result)
    return run


def _measure(model, config: BenchConfig, run: BenchRun, threads: int, progress: Progress) -> None:
    result, sig, rep = run.result, model.signature, config.repeat
    session = bare_session(model)
    progress(f"single-stream step latency: {rep.steps} steps after {rep.warmup} warm-up")
    result["single_stream"], run.samples = single_stream(model, session, sample_rows(sig, 1024, config.seed), rep)
    progress(f"hardware line: sgemm at {threads} thread(s)")
    if model.provider == "cpu":
        try:
            result["hardware"] = hardware_line(sig, config.streams, threads, rep)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
            result["hardware"] = {"error": str(e)}
    else:
        result["hardware"] = {"skipped": f"the sgemm line is a CPU measure; this run is on {model.provider}"}
    for b in config.streams:
        progress(f"streams: {b}")
        point, result["pool"] = sweep_point(model, session, b, rep, result["model"]["flops_per_step"], config.seed)
        result["streams"].append(point)
    for c in config.chunks:
        progress(f"chunks: {c} steps per call")
        result["chunks"].append(chunk_point(model, session, c, rep, config.seed))
    if config.startup:
        progress(f"start-up: {rep.startup_runs} fresh `edgernn stream` process(es)")
        try:
            result["startup"] = startup(model, rep.startup_runs)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            result["startup"] = {"error": str(e)}
