"""Measure an exported model on this machine: step latency, throughput over stream counts,
chunking, the sgemm hardware line, and process start-up. Behind ``edgernn bench``.

Every measurement runs edgernn next to what a user would otherwise write by hand, a bare
``onnxruntime.InferenceSession.run`` with numpy feeds (same graph, same threads, spinning
off, inputs already scaled), interleaved in blocks so that a noisy neighbour hits both.
Ratios are the robust numbers; absolute times come with their spread. Which edgernn call is
timed depends on the model's task (``edgernn.bench.workloads``: one workload per kind of model).

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

import datetime
import os
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgernn.bench.cost import step_cost
from edgernn.bench.machine import add_fractions, hardware_line, machine
from edgernn.bench.measure import (
    PRESETS,
    Interrupted,
    Progress,
    Repeat,
    Step,
    bare_loop,
    bare_session,
    interleaved,
    reps_for,
    startup,
)
from edgernn.bench.workloads import Workload, chunks_apply, describe, workload_for
from edgernn.core.latency import percentiles
from edgernn.core.model import Model
from edgernn.tasks.registry import task_of
from edgernn.version import __version__


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


def single_stream(
    model: Model, session: Any, rows: np.ndarray, repeat: Repeat
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Stream.step vs a bare run(), one stream, one step per call (a forecaster)."""
    sig, stream = model.signature, model.stream()
    user = list(rows)
    scaled = list(sig.input_scaler.transform(rows)[:, None, None, :])  # each (1, 1, F)
    return measure_single(
        {
            "edgernn": lambda i: stream.step(user[i % len(user)]),
            "bare_ort": bare_loop(session, sig, scaled, 1),
        },
        repeat,
    )


def measure_single(
    fns: dict[str, Step], repeat: Repeat
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """edgernn's one-step call vs the bare one, ``repeat.steps`` each, interleaved."""
    samples = interleaved(fns, repeat.steps, repeat.warmup)
    return single_summary(samples, repeat), samples


def single_summary(
    samples: dict[str, np.ndarray], repeat: Repeat, partial: bool = False
) -> dict[str, Any]:
    """{steps, warmup, edgernn_us, bare_ort_us, ratio_p50} (and ``partial``) of timed samples."""
    out: dict[str, Any] = {
        "steps": min(len(ns) for ns in samples.values()),
        "warmup": repeat.warmup,
        "edgernn_us": percentiles(samples["edgernn"]),
        "bare_ort_us": percentiles(samples["bare_ort"]),
    }
    out["ratio_p50"] = round(out["edgernn_us"]["p50"] / out["bare_ort_us"]["p50"], 3)
    if partial:
        out["partial"] = True
    return out


def sweep_point(fns: dict[str, Step], batch: int, repeat: Repeat, flops: int) -> dict[str, Any]:
    """One tick = one step of each of ``batch`` streams; edgernn and bare interleaved."""
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point: dict[str, Any] = {"streams": batch, "ticks": n}
    for name, ns in samples.items():
        tick = percentiles(ns)
        per_step_s = tick["p50"] / 1e6 / batch
        point[name] = {
            "tick_us": tick,
            "per_stream_step_us": round(per_step_s * 1e6, 4),
            "stream_steps_per_s": round(1 / per_step_s),
            "gflops": round(flops / per_step_s / 1e9, 3),
        }
    return point


def chunk_point(fns: dict[str, Step], chunk: int, repeat: Repeat, api: str) -> dict[str, Any]:
    """One call = ``chunk`` steps of one stream; edgernn (``api``) and bare interleaved."""
    n = reps_for(fns, repeat)
    samples = interleaved(fns, n, warmup=2, blocks=5)
    point: dict[str, Any] = {"chunk": chunk, "calls": n, "api": api}
    for name, ns in samples.items():
        call = percentiles(ns)
        point[name] = {
            "call_us": call,
            "per_step_us": round(call["p50"] / chunk, 4),
            "steps_per_s": round(chunk * 1e6 / call["p50"]),
        }
    return point


# ---- the whole run ---------------------------------------------------------------------------
def phases(model: Model, config: BenchConfig) -> int:
    """How many progress lines ``run_bench`` reports (a phase that does not apply reports
    one)."""
    chunks = len(config.chunks) if chunks_apply(model.signature) else 1
    return 3 + len(config.streams) + chunks - (not config.startup)


def run_bench(
    model: Model, config: BenchConfig = BenchConfig(), progress: Progress = lambda _: None
) -> BenchRun:
    """Every measurement in turn. Ctrl-C stops it cleanly: what is done is returned, with
    ``interrupted`` true."""
    run = BenchRun(_skeleton(model, config))
    try:
        _measure(model, config, run, progress)
    except KeyboardInterrupt:
        run.result["interrupted"] = True
    add_fractions(run.result)
    return run


def _skeleton(model: Model, config: BenchConfig) -> dict[str, Any]:
    """The result before anything is measured: the model, the run, the machine."""
    sig = model.signature
    cost = step_cost(sig)
    return {
        "edgernn": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "path": str(model.path),
            "id": model.model_id,
            **describe(sig),
            "arch": sig.arch,
            "layers": list(sig.layers),
            "features": len(sig.features),
            "targets": len(sig.targets),
            "flops_per_step": cost["flops"],
            "flops_nominal": cost["nominal"],
            "flops_notes": cost["notes"],
        },
        "run": {
            "provider": model.provider,
            "provider_note": model.provider_note,
            "threads": model.config.intra_op_threads,
            "repeat": asdict(config.repeat),
            "streams": list(config.streams),
            "chunks": list(config.chunks),
        },
        "machine": machine(),
        "pool": "used" if task_of(sig).pooled and sig.causal else "not available",
        "api": None,
        "single_stream": None,
        "hardware": None,
        "streams": [],
        "chunks": [],
        "startup": None,
        "skipped": {},
        "interrupted": False,
    }


def _measure(model: Model, config: BenchConfig, run: BenchRun, progress: Progress) -> None:
    result, rep = run.result, config.repeat
    threads = model.config.intra_op_threads or os.cpu_count() or 1
    work = workload_for(model, bare_session(model), config.seed)
    result["api"] = work.api()
    progress(f"single-stream step latency: {rep.steps} steps after {rep.warmup} warm-up")
    try:
        result["single_stream"], run.samples = measure_single(work.single(), rep)
    except Interrupted as e:  # keep what was timed when both sides have samples
        if set(e.samples) == {"edgernn", "bare_ort"}:
            result["single_stream"], run.samples = (
                single_summary(e.samples, rep, partial=True),
                e.samples,
            )
        raise
    progress(f"hardware line: sgemm at {threads} thread(s)")
    result["hardware"] = _hardware(model, config, threads)
    for b in config.streams:
        progress(f"streams: {b}")
        result["streams"].append(
            sweep_point(work.batch(b), b, rep, result["model"]["flops_per_step"])
        )
    _chunks(work, config, result, progress)
    if config.startup:
        _startup(work, rep, result, progress)
    else:
        result["skipped"]["startup"] = "--no-startup"


def _hardware(model: Model, config: BenchConfig, threads: int) -> dict[str, Any]:
    if model.provider != "cpu":
        return {"skipped": f"the sgemm line is a CPU measure; this run is on {model.provider}"}
    try:
        return hardware_line(model.signature, config.streams, threads, config.repeat)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        return {"error": str(e)}


def _chunks(
    work: Workload, config: BenchConfig, result: dict[str, Any], progress: Progress
) -> None:
    if work.chunk_skip:
        progress(f"chunks: skipped ({work.chunk_skip})")
        result["skipped"]["chunks"] = work.chunk_skip
        return
    for c in config.chunks:
        progress(f"chunks: {c} steps per call")
        fns, api = work.chunk(c)
        result["chunks"].append(chunk_point(fns, c, config.repeat, api))


def _startup(work: Workload, rep: Repeat, result: dict[str, Any], progress: Progress) -> None:
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
