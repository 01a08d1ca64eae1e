"""Timing primitives for benchmarks: presets, interleaved timed loops, the bare ONNX Runtime
loop, the edgernn batch loop, and fresh-process start-up. Torch-free: numpy and onnxruntime."""

from __future__ import annotations

import dataclasses
import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from edgernn.core.latency import percentiles as percentiles  # p50..mean in us of timed ns
from edgernn.core.model import Model
from edgernn.core.providers import provider_list
from edgernn.errors import UsageError
from edgernn.signature import Signature

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
        raise UsageError(
            f"--repeat {text!r} is neither {', '.join(PRESETS)} nor a whole number >= 10"
        )
    return Repeat(
        steps=n,
        warmup=max(n // 10, 20),
        budget_s=min(max(n / 12500, 0.02), 5.0),
        min_reps=3 if n < 1000 else 10,
        startup_runs=1 if n < 1000 else 3,
    )


def parse_sizes(text: str, option: str) -> tuple[int, ...]:
    """'1,16,64' -> (1, 16, 64); a one-line UsageError for anything else."""
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError(
            f"{option} {text!r} is not a comma-separated list of positive whole numbers "
            "(e.g. 1,16,64)"
        )
    return tuple(dict.fromkeys(sizes))


# ---- timing primitives ---------------------------------------------------------------------
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


def interleaved(
    fns: dict[str, Step], n: int, warmup: int, blocks: int = 10
) -> dict[str, np.ndarray]:
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
        raise Interrupted(
            {name: np.asarray(p, dtype=np.int64) for name, p in parts.items() if p}
        ) from None
    return {name: np.asarray(p, dtype=np.int64) for name, p in parts.items()}


def reps_for(fns: dict[str, Step], repeat: Repeat) -> int:
    """How many timed calls fit the time budget (from two untimed calls of each)."""
    for fn in fns.values():
        fn(0)
    t = sum(float(np.median(time_calls(fn, 2))) for fn in fns.values()) / 1e9
    fits = max(repeat.budget_s / max(t, 1e-9), repeat.min_reps)
    return int(min(fits, max(repeat.steps, repeat.min_reps)))


def sample_rows(sig: Signature, n: int, seed: int = 0) -> np.ndarray:
    """``n`` valid input rows (n, F) in user units: offset + scale * N(0, 1) per feature."""
    scaler = sig.input_scaler
    offset, scale = (np.asarray(v, dtype=np.float32) for v in (scaler.offset, scaler.scale))
    z = np.random.default_rng(seed).standard_normal((n, len(sig.features))).astype(np.float32)
    return offset + scale * z


# ---- the loops: edgernn and a bare ONNX Runtime session --------------------------------------
def bare_session(model: Model) -> ort.InferenceSession:
    """The session a user would make by hand: same graph, provider and threads, spinning off."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = model.config.intra_op_threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    # the same providers with the same options (TF32 off on CUDA, TensorRT's engine cache), but
    # no CUDA graph: a plain run() with numpy feeds cannot replay one
    providers = provider_list(dataclasses.replace(model.config, cuda_graph=False), model.provider)
    return ort.InferenceSession(str(model.path), so, providers=providers)


def bare_loop(
    session: ort.InferenceSession,
    sig: Signature,
    xs: list[np.ndarray],
    batch: int,
    init: Sequence[np.ndarray] | None = None,
) -> Step:
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


def edgernn_batch(model: Model, rows: list[np.ndarray], batch: int) -> tuple[Step, str]:
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


@dataclass(frozen=True)
class Launch:
    """How to time one fresh edgernn process: its arguments, its stdin, and what counts as
    output."""

    args: list[str]  # after `python -m edgernn`
    feed: bytes  # written to its stdin, which is then closed
    need: int  # stdout bytes that make its first output (more than a prompt it echoes first)
    command: str  # as reported: the command line, MODEL for the path
    output: str = "first output"  # what the `need` bytes are, in words


def startup(launch: Launch, runs: int) -> dict[str, Any]:
    """Fresh processes of ``launch``: seconds to the first output and peak RSS (median of
    ``runs``; the fastest too), in this Python environment."""
    cmd = [sys.executable, "-m", "edgernn", *launch.args]
    firsts, rss = zip(*(_first_output(cmd, launch.feed, launch.need) for _ in range(runs)))
    return {
        "runs": runs,
        "first_output_s": round(float(np.median(firsts)), 4),
        "first_output_s_min": round(min(firsts), 4),
        "peak_rss_mb": None if None in rss else round(float(np.median(rss)), 1),
        "command": launch.command,
        "output": launch.output,
    }


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
print(json.dumps({"first_s": first, "rss_mb": rss, "rc": rc, "output": len(head) >= need,
                  "error": err[-300:]}))
"""


def _first_output(cmd: list[str], feed: bytes, need: int = 1) -> tuple[float, float | None]:
    """(seconds to the first ``need`` stdout bytes, peak RSS in MB or None) of one fresh process."""
    r = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, str(need), *cmd],
        input=feed,
        capture_output=True,
        timeout=300,
    )
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError(
            f"the start-up launcher failed: {r.stderr.decode(errors='replace').strip()[-200:]}"
        ) from None
    if out["rc"] != 0 or not out["output"]:
        name = " ".join(cmd[2:4])
        raise RuntimeError(
            out["error"].splitlines()[-1]
            if out["error"]
            else f"`{name}` exited {out['rc']} without output"
        )
    return out["first_s"], out["rss_mb"]
