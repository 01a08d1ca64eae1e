"""Measure an exported model on this machine: step latency, throughput over stream counts,
chunking, the sgemm hardware line, and process start-up. Behind ``edgernn bench``.

Every measurement runs edgernn next to what a user would otherwise write by hand, a bare
``onnxruntime.InferenceSession.run`` with numpy feeds (same graph, same threads, spinning
off, inputs already scaled), interleaved in blocks so that a noisy neighbour hits both.
Ratios are the robust numbers; absolute times come with their spread. Which edgernn call is
timed depends on the model's task (``edgernn.bench_tasks``: one workload per kind of model).

FLOPs per stream-step count the matrix products only: 2*G*H*(I+H) per recurrent layer and
direction (G = 1 for RNN, 3 for GRU, 4 for LSTM; I = the features, or the embedding width of a
text model) plus 2*H*K for the dense head (K = targets, labels or vocabulary). A window model's
stream-step is one run over its window: W steps, both directions, the head once. Biases,
activations, embedding look-ups and the state update (O(10*H) per layer) are not counted, so
achieved GFLOP/s is a lower bound; ``step_cost`` says what else a count leaves out.

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
from typing import Any, Callable, Sequence

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


def time_calls(fn: Step, n: int, start: int = 0, into: list[int] | None = None) -> np.ndarray:
    """Wall time in ns of each of ``n`` calls ``fn(start + i)``, appended to ``into`` when given
    (so a Ctrl-C keeps the calls timed so far there); all of ``into`` is returned."""
    out = [] if into is None else into
    append, clock = out.append, time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn(start + i)
        append(clock() - t0)
    return np.asarray(out, dtype=np.int64)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C inside ``interleaved``; ``samples`` holds the calls timed so far (name -> ns)."""

    def __init__(self, samples: dict[str, np.ndarray]):
        super().__init__()
        self.samples = samples


def interleaved(fns: dict[str, Step], n: int, warmup: int, blocks: int = 10) -> dict[str, np.ndarray]:
    """Time ``n`` calls of each function, alternating in ``blocks`` so drift hits all alike.
    Ctrl-C raises ``Interrupted`` with what was timed so far."""
    for fn in fns.values():
        time_calls(fn, warmup)
    gc.collect()
    blocks = max(1, min(blocks, n))
    parts: dict[str, list[int]] = {name: [] for name in fns}
    try:
        for b in range(blocks):
            size = n // blocks + (b < n % blocks)
            for name, fn in fns.items():
                time_calls(fn, size, warmup + len(parts[name]), into=parts[name])
    except KeyboardInterrupt:
        raise Interrupted({name: np.asarray(p, dtype=np.int64) for name, p in parts.items() if p}) from None
    return {name: np.asarray(p, dtype=np.int64) for name, p in parts.items()}


def reps_for(fns: dict[str, Step], repeat: Repeat) -> int:
    """How many timed calls fit the time budget (from two untimed calls of each)."""
    for fn in fns.values():
        fn(0)
    t = sum(float(np.median(time_calls(fn, 2))) for fn in fns.values()) / 1e9
    return int(min(max(repeat.budget_s / max(t, 1e-9), repeat.min_reps), max(repeat.steps, repeat.min_reps)))


# ---- what a step costs -----------------------------------------------------------------------
def flops_per_step(sig) -> int:
    """Matrix-product FLOPs of one stream-step (gates of every layer and the head); see ``step_cost``."""
    return step_cost(sig)["flops"]


def step_cost(sig) -> dict[str, Any]:
    """{flops, nominal, notes}: the matrix-product FLOPs of one stream-step, whether they are
    nominal (an int8 graph: the count is of the float32 products it replaces), and what the
    count assumes or leaves out, one note each."""
    gates = GATES[sig.arch]
    d, hidden = directions(sig), sig.layers[-1]
    recurrent = d * sum(2 * gates * h * (i + h) for i, h in layer_shapes(sig))
    attn = attention_width(sig)
    score = 2 * hidden * attn + 2 * attn if attn else 0  # dense H -> A, then the score A -> 1
    head = 2 * d * hidden * (2 if attn else 1) * head_width(sig)  # with attention the head reads [h, context]
    steps = 1 if d == 1 else max(int(getattr(sig, "window", 1)), 1)
    notes = []
    if input_width(sig) is None:
        notes.append("excludes layer 0's input projection (the embedding width is not in the signature)")
    if attn:
        notes.append(f"attention: score layer {hidden}x{attn} + {attn} counted at its default width (= hidden)")
    if d == 2:
        notes.append(f"window model: one stream-step = a run over the {steps}-step window, both directions, the head once")
    quant = (getattr(sig, "parity", None) or {}).get("quantization") or {}
    nominal = "int8" in str(quant.get("mode", ""))
    if nominal:
        notes.append(f"nominal: an {quant['mode']} graph; counted as the float32 products it replaces")
    return {"flops": steps * (recurrent + score) + head, "nominal": nominal, "notes": notes}


def layer_shapes(sig) -> list[tuple[int, int]]:
    """(input size, hidden size) of each recurrent layer (one direction). Layer 0's input is 0
    when a text model's embedding width is unknown (its projection is then not counted)."""
    d = directions(sig)
    sizes_in = (input_width(sig) or 0,) + tuple(d * h for h in sig.layers[:-1])
    return list(zip(sizes_in, sig.layers))


def input_width(sig) -> int | None:
    """Layer 0's input size: the features of sensor inputs, the embedding width of token inputs
    (``provenance['model']['embed']``), None when the signature does not say."""
    if getattr(sig, "tokenizer", None) is None:
        return len(sig.features)
    embed = _model_facts(sig).get("embed")
    return int(embed) if embed else None


def directions(sig) -> int:
    """2 for a window (bidirectional, non-causal) model, else 1."""
    return 1 if getattr(sig, "causal", True) else 2


def attention_width(sig) -> int | None:
    """The attention score layer's width when the model pools with attention (its default: hidden)."""
    return sig.layers[-1] if _model_facts(sig).get("attention") else None


def head_width(sig) -> int:
    """Outputs of the dense head: labels (classify), vocabulary (generate, seq2seq) or targets."""
    task, tok = getattr(sig, "task", "forecast"), getattr(sig, "tokenizer", None)
    if task == "classify" and getattr(sig, "labels", ()):
        return len(sig.labels)
    if task in ("generate", "seq2seq") and tok is not None:
        return len(tok.vocab)
    return len(sig.targets)


def _model_facts(sig) -> dict:
    model = (getattr(sig, "provenance", None) or {}).get("model")
    return model if isinstance(model, dict) else {}


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


def bare_loop(session: ort.InferenceSession, sig, xs: list[np.ndarray], batch: int,
              init: Sequence[np.ndarray] | None = None) -> Step:
    """``session.run`` with numpy feeds over ``batch`` stacked streams; x already in model units.
    The state starts at ``init`` (default: fresh) and is carried from call to call."""
    names = [s.input for s in sig.states]
    states = list(init) if init is not None else [s.zeros(batch) for s in sig.states]

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
    """Stream.step vs a bare run(), one stream, one step per call (a forecaster)."""
    sig, stream = model.signature, model.stream()
    user = list(rows)
    scaled = list(sig.input_scaler.transform(rows)[:, None, None, :])  # each (1, 1, F)
    return measure_single({"edgernn": lambda i: stream.step(user[i % len(user)]),
                           "bare_ort": bare_loop(session, sig, scaled, 1)}, repeat)


def measure_single(fns: dict[str, Step], repeat: Repeat) -> tuple[dict, dict[str, np.ndarray]]:
    """edgernn's one-step call vs the bare one, ``repeat.steps`` each, interleaved."""
    samples = interleaved(fns, repeat.steps, repeat.warmup)
    return single_summary(samples, repeat), samples


def single_summary(samples: dict[str, np.ndarray], repeat: Repeat, partial: bool = False) -> dict:
    """{steps, warmup, edgernn_us, bare_ort_us, ratio_p50} (and ``partial``) of timed samples."""
    out = {"steps": min(len(ns) for ns in samples.values()), "warmup": repeat.warmup,
           "edgernn_us": percentiles(samples["edgernn"]), "bare_ort_us": percentiles(samples["bare_ort"])}
    out["ratio_p50"] = round(out["edgernn_us"]["p50"] / out["bare_ort_us"]["p50"], 3)
    if partial:
        out["partial"] = True
    return out


def sweep_point(fns: dict[str, Step], batch: int, repeat: Repeat, flops: int) -> dict:
    """One tick = one step of each of ``batch`` streams; edgernn and bare interleaved."""
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point = {"streams": batch, "ticks": n}
    for name, ns in samples.items():
        tick = percentiles(ns)
        per_step_s = tick["p50"] / 1e6 / batch
        point[name] = {"tick_us": tick, "per_stream_step_us": round(per_step_s * 1e6, 4),
                       "stream_steps_per_s": round(1 / per_step_s), "gflops": round(flops / per_step_s / 1e9, 3)}
    return point


def chunk_point(fns: dict[str, Step], chunk: int, repeat: Repeat, api: str) -> dict:
    """One call = ``chunk`` steps of one stream; edgernn (``api``) and bare interleaved."""
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point = {"chunk": chunk, "calls": n, "api": api}
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


@dataclass(frozen=True)
class Launch:
    """How to time one fresh edgernn process: its arguments, its stdin, and what counts as output."""

    args: list[str]  # after `python -m edgernn`
    feed: bytes  # written to its stdin, which is then closed
    need: int  # stdout bytes that make its first output (more than a prompt it echoes first)
    command: str  # as reported: the command line, MODEL for the path
    output: str = "first output"  # what the `need` bytes are, in words


def startup(launch: Launch, runs: int) -> dict:
    """Fresh processes of ``launch``: seconds to the first output and peak RSS (median of
    ``runs``; the fastest too), in this Python environment."""
    cmd = [sys.executable, "-m", "edgernn", *launch.args]
    firsts, rss = zip(*(_first_output(cmd, launch.feed, launch.need) for _ in range(runs)))
    return {"runs": runs, "first_output_s": round(float(np.median(firsts)), 4), "first_output_s_min": round(min(firsts), 4),
            "peak_rss_mb": None if None in rss else round(float(np.median(rss)), 1),
            "command": launch.command, "output": launch.output}


# A child's ru_maxrss starts at its parent's high-water mark (Linux carries it over exec), so
# a big benchmark process would inflate it: a small launcher starts and measures the command.
# The first output is the first NEED bytes on its stdout (read() returns once they are there),
# not a line: `edgernn generate` prints characters as it makes them, with no newline.
LAUNCHER = r"""
import json, os, subprocess, sys, time
need, cmd = int(sys.argv[1]), sys.argv[2:]
feed = sys.stdin.buffer.read()
t0 = time.perf_counter()
proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
proc.stdin.write(feed); proc.stdin.close()
head = proc.stdout.read(need)
first = time.perf_counter() - t0
proc.stdout.read()
err = proc.stderr.read().decode(errors="replace").strip()
if hasattr(os, "wait4"):
    _, status, usage = os.wait4(proc.pid, 0)
    rc, rss = os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024
else:
    rc, rss = proc.wait(), None
print(json.dumps({"first_s": first, "rss_mb": rss, "rc": rc, "output": len(head) >= need, "error": err[-300:]}))
"""


def _first_output(cmd: list[str], feed: bytes, need: int = 1) -> tuple[float, float | None]:
    """(seconds to the first ``need`` stdout bytes, peak RSS in MB or None) of one fresh process."""
    r = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(need), *cmd], input=feed, capture_output=True, timeout=300)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError(f"the start-up launcher failed: {r.stderr.decode(errors='replace').strip()[-200:]}") from None
    if out["rc"] != 0 or not out["output"]:
        name = " ".join(cmd[2:4])
        raise RuntimeError(out["error"].splitlines()[-1] if out["error"] else f"`{name}` exited {out['rc']} without output")
    return out["first_s"], out["rss_mb"]


# ---- the whole run ---------------------------------------------------------------------------
def phases(model, config: BenchConfig) -> int:
    """How many progress lines ``run_bench`` reports (a phase that does not apply reports one)."""
    from edgernn.bench_tasks import chunks_apply

    chunks = len(config.chunks) if chunks_apply(model.signature) else 1
    return 3 + len(config.streams) + chunks - (not config.startup)


def run_bench(model, config: BenchConfig = BenchConfig(), progress: Progress = lambda _: None) -> BenchRun:
    """Every measurement in turn. Ctrl-C stops it cleanly: what is done is returned, with
    ``interrupted`` true."""
    from edgernn import __version__
    from edgernn.bench_tasks import describe

    sig = model.signature
    cost = step_cost(sig)
    result: dict[str, Any] = {
        "edgernn": __version__, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"path": str(model.path), "id": model.model_id, **describe(sig), "arch": sig.arch, "layers": list(sig.layers),
                  "features": len(sig.features), "targets": len(sig.targets), "flops_per_step": cost["flops"],
                  "flops_nominal": cost["nominal"], "flops_notes": cost["notes"]},
        "run": {"provider": model.provider, "provider_note": model.provider_note, "threads": model.config.intra_op_threads,
                "repeat": asdict(config.repeat), "streams": list(config.streams), "chunks": list(config.chunks)},
        "machine": machine(), "pool": "used" if sig.task == "forecast" and sig.causal else "not available",
        "api": None, "single_stream": None, "hardware": None, "streams": [], "chunks": [], "startup": None,
        "skipped": {}, "interrupted": False,
    }
    run = BenchRun(result)
    try:
        _measure(model, config, run, progress)
    except KeyboardInterrupt:
        result["interrupted"] = True
    add_fractions(result)
    return run


def _measure(model, config: BenchConfig, run: BenchRun, progress: Progress) -> None:
    from edgernn.bench_tasks import workload_for

    result, rep = run.result, config.repeat
    threads = model.config.intra_op_threads or os.cpu_count() or 1
    work = workload_for(model, bare_session(model), config.seed)
    result["api"] = work.api()
    progress(f"single-stream step latency: {rep.steps} steps after {rep.warmup} warm-up")
    try:
        result["single_stream"], run.samples = measure_single(work.single(), rep)
    except Interrupted as e:  # keep what was timed when both sides have samples
        if set(e.samples) == {"edgernn", "bare_ort"}:
            result["single_stream"], run.samples = single_summary(e.samples, rep, partial=True), e.samples
        raise
    progress(f"hardware line: sgemm at {threads} thread(s)")
    result["hardware"] = _hardware(model, config, threads)
    for b in config.streams:
        progress(f"streams: {b}")
        result["streams"].append(sweep_point(work.batch(b), b, rep, result["model"]["flops_per_step"]))
    _chunks(work, config, result, progress)
    if config.startup:
        _startup(work, rep, result, progress)
    else:
        result["skipped"]["startup"] = "--no-startup"


def _hardware(model, config: BenchConfig, threads: int) -> dict:
    if model.provider != "cpu":
        return {"skipped": f"the sgemm line is a CPU measure; this run is on {model.provider}"}
    try:
        return hardware_line(model.signature, config.streams, threads, config.repeat)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        return {"error": str(e)}


def _chunks(work, config: BenchConfig, result: dict, progress: Progress) -> None:
    if work.chunk_skip:
        progress(f"chunks: skipped ({work.chunk_skip})")
        result["skipped"]["chunks"] = work.chunk_skip
        return
    for c in config.chunks:
        progress(f"chunks: {c} steps per call")
        fns, api = work.chunk(c)
        result["chunks"].append(chunk_point(fns, c, config.repeat, api))


def _startup(work, rep: Repeat, result: dict, progress: Progress) -> None:
    launch = work.launch()
    if isinstance(launch, str):
        progress(f"start-up: skipped ({launch})")
        result["skipped"]["startup"] = launch
        return
    progress(f"start-up: {rep.startup_runs} fresh `edgernn {launch.args[0]}` process(es)")
    try:
        result["startup"] = startup(launch, rep.startup_runs)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        result["startup"] = {"error": str(e), "command": launch.command}
