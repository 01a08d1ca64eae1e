"""The machine a benchmark ran on, and the hardware line: numpy's sgemm at the run's shapes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from typing import Any

import numpy as np
import onnxruntime as ort

from edgernn.bench.cost import GATES, layer_shapes
from edgernn.bench.measure import Repeat
from edgernn.signature import Signature

CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")


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
    """Median ns of numpy float32 (m, k) x (k, n) per shape, in a child with ``threads`` BLAS
    threads."""
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
    )
    r = subprocess.run(
        [sys.executable, "-c", SGEMM_SCRIPT, json.dumps(shapes), str(budget_s)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        raise RuntimeError(
            r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        )
    medians: list[float] = json.loads(r.stdout)
    return medians


def hardware_line(
    sig: Signature, streams: tuple[int, ...], threads: int, repeat: Repeat, square: int = 1024
) -> dict[str, Any]:
    """Single- (or ``threads``-) thread sgemm GFLOP/s: square, and at each stream count's shapes."""
    layers = [(i + h, GATES[sig.arch] * h) for i, h in layer_shapes(sig)]
    shapes = [(square, square, square)] + [(b, k, n) for b in streams for k, n in layers]
    ns = sgemm_ns(shapes, threads, budget_s=min(max(repeat.budget_s / 4, 0.02), 0.5))
    matched = {}
    for j, b in enumerate(streams):
        part = ns[1 + j * len(layers) : 1 + (j + 1) * len(layers)]
        matched[str(b)] = round(sum(2 * b * k * n for k, n in layers) / sum(part), 3)
    return {
        "threads": threads,
        "square": {"n": square, "gflops": round(2 * square**3 / ns[0], 3)},
        "matched_gflops": matched,
        "shapes": "(B, I+H) x (I+H, G*H) per layer, time-weighted over layers",
        "method": "numpy float32 matmul, median, in a child process "
        "with OPENBLAS/OMP/MKL_NUM_THREADS set",
    }


def add_fractions(result: dict[str, Any]) -> None:
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
def machine() -> dict[str, Any]:
    """CPU model, cores, relevant SIMD flags, memory, OS and versions."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    return {
        "cpu": info.get("model name", platform.processor() or platform.machine()),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "flags": [f for f in CPU_FLAGS if f in flags],
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
    }


def _cpuinfo() -> dict[str, str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            pairs = (line.split(":", 1) for line in f if ":" in line)
            # the first CPU's values win
            return {k.strip(): v.strip() for k, v in reversed(list(pairs))}
    except OSError:
        return {}


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None
