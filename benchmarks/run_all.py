"""Run the whole comparison and write it into benchmarks/RESULTS.md.

Side by side, same weights, same machine, same run: edgernn, a bare ONNX Runtime
``InferenceSession.run``, PyTorch eager (oneDNN on and off), and a plain numpy cell, for
RNN / LSTM / GRU at hidden 32, 64, 256 with 1 and 2 layers; single-stream step latency,
1024 streams against the sgemm line, the headline model (LSTM 2x64) over stream counts and
chunk sizes, start-up of `edgernn stream` with and without torch, and `edgernn bench` on the
shipped model. Loops run interleaved in blocks so machine noise hits every one alike.

    python benchmarks/run_all.py [--quick] [--runtime-python VENV/bin/python]

``--quick`` (~25 s on 2 cores) takes 2-layer models only and fewer repetitions; the full
run takes ~1.5 min. The generated section replaces the one between the run_all markers
in RESULTS.md (older hand-written sections stay); the raw numbers go to
benchmarks/.cache/results.json. Needs the train extra.
"""

from __future__ import annotations

import os

# for the child processes that stand for a user's own (start-up, edgernn bench)
USER_ENV = dict(os.environ)
# before numpy/torch load their BLAS:
for _var in (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
):
    os.environ[_var] = (
        "1"  # one thread everywhere (a 2-thread OpenBLAS next to torch ran 100x slower here)
    )

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import impls  # noqa: E402
import models  # noqa: E402
import numpy as np  # noqa: E402

from edgernn.bench.cost import GATES, flops_per_step, layer_shapes  # noqa: E402
from edgernn.bench.machine import hardware_line, machine, sgemm_ns  # noqa: E402
from edgernn.bench.measure import Repeat, interleaved, percentiles, reps_for  # noqa: E402

HERE = Path(__file__).parent
BEGIN, END = "<!-- run_all.py: begin -->", "<!-- run_all.py: end -->"
SWEEP = (1, 16, 64, 256, 1024, 4096)
CHUNKS = (1, 10, 100)


def settings(quick: bool) -> dict:
    return {
        "steps": 600 if quick else 3000,
        "warmup": 100 if quick else 300,
        "budget_s": 0.12 if quick else 0.4,
        "startup_runs": 3 if quick else 7,
        "bench_repeat": "small" if quick else "normal",
    }


# ---- measurements ----------------------------------------------------------------------------
def single_stream(L: impls.Loaded, s: dict) -> dict[str, dict]:
    """p50/p99... of one step of one stream, every implementation, interleaved."""
    fns = {name: impls.make(name, L) for name in impls.IMPLS}
    return {name: percentiles(ns) for name, ns in interleaved(fns, s["steps"], s["warmup"]).items()}


def many_streams(L: impls.Loaded, batch: int, s: dict, names=impls.IMPLS) -> dict[str, dict]:
    """Per stream-step cost and GFLOP/s with ``batch`` streams per tick."""
    fns = {name: impls.make(name, L, batch=batch) for name in names}
    n = reps_for(fns, Repeat(s["steps"], 2, s["budget_s"] * len(fns), 5, 1))
    flops = flops_per_step(L.model.signature)
    out = {}
    for name, ns in interleaved(fns, n, warmup=2, blocks=5).items():
        p50_s = float(np.median(ns)) / 1e9
        out[name] = {
            "tick_us": percentiles(ns),
            "per_stream_step_us": p50_s * 1e6 / batch,
            "gflops": flops * batch / p50_s / 1e9,
        }
    return out


def chunks(L: impls.Loaded, chunk: int, s: dict) -> dict[str, dict]:
    names = ("edgernn", "bare_ort", "torch_native", "numpy")
    fns = {name: impls.make(name, L, chunk=chunk) for name in names}
    n = reps_for(fns, Repeat(s["steps"], 2, s["budget_s"] * len(fns), 10, 1))
    return {
        name: {"call_us": percentiles(ns), "per_step_us": float(np.median(ns)) / 1e3 / chunk}
        for name, ns in interleaved(fns, n, warmup=3, blocks=5).items()
    }


def matched_line(sig, batch: int, budget_s: float) -> float:
    """Single-thread sgemm GFLOP/s at this model's per-layer shapes for ``batch`` streams."""
    layers = [(i + h, GATES[sig.arch] * h) for i, h in layer_shapes(sig)]
    ns = sgemm_ns([(batch, k, n) for k, n in layers], 1, budget_s)
    return sum(2 * batch * k * n for k, n in layers) / sum(ns)


def startup_costs(runtime_python: str, runs: int) -> dict:
    """benchmarks/startup.py in its own small process: a child's peak RSS starts at its parent's
    high-water mark on Linux, so measuring from this (large) process would inflate it."""
    cmd = [
        sys.executable,
        str(HERE / "startup.py"),
        "--python",
        runtime_python,
        "--torch-python",
        sys.executable,
        "--repeat",
        str(runs),
        "--json",
    ]
    return json.loads(
        subprocess.run(
            cmd, capture_output=True, text=True, check=True, timeout=600, env=USER_ENV
        ).stdout
    )


def bench_command(python: str, repeat: str) -> str:
    """`edgernn bench` on the shipped model, as a user would run it."""
    r = subprocess.run(
        [python, "-m", "edgernn", "bench", "--repeat", repeat, "--quiet"],
        capture_output=True,
        text=True,
        timeout=900,
        env=USER_ENV,
    )
    return r.stdout.strip() if r.returncode == 0 else f"(failed: {r.stderr.strip()[-500:]})"


# ---- the run -----------------------------------------------------------------------------------
def run(quick: bool, runtime_python: str) -> dict:
    s = settings(quick)
    grid = [models.ensure(m) for m in models.grid(quick)]
    data: dict = {
        "settings": s,
        "quick": quick,
        "machine": machine(),
        "versions": versions(),
        "models": {},
    }
    say(f"hardware line and headline sweep ({models.headline().name})")
    head = impls.load(models.ensure(models.headline()))
    data["hardware"] = hardware_line(
        head.model.signature, SWEEP, 1, Repeat(1, 1, s["budget_s"], 1, 1)
    )
    data["sweep"] = {b: many_streams(head, b, s) for b in SWEEP}
    data["chunks"] = {c: chunks(head, c, s) for c in CHUNKS}
    for m in grid:
        say(f"{m.name}: single stream, 1024 streams")
        L = impls.load(m)
        data["models"][m.name] = {
            "label": m.label,
            "flops": flops_per_step(L.model.signature),
            "single": single_stream(L, s),
            "streams_1024": many_streams(L, 1024, s),
            "line_1024": matched_line(L.model.signature, 1024, s["budget_s"] / 4),
        }
    say("start-up")
    data["startup"] = startup_costs(runtime_python, s["startup_runs"])
    say("edgernn bench on the shipped model")
    data["bench_text"] = bench_command(runtime_python, s["bench_repeat"])
    data["bench_command"] = (
        f"{runtime_python} -m edgernn bench --repeat {s['bench_repeat']} --quiet"
    )
    data["runtime_python"] = runtime_python
    return data


def versions() -> dict:
    import onnx
    import torch

    import edgernn

    return {"torch": torch.__version__, "onnx": onnx.__version__, "edgernn": edgernn.__version__}


def say(text: str) -> None:
    print(f"run_all: {text}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2-layer models only, fewer repetitions")
    ap.add_argument(
        "--runtime-python",
        default=sys.executable,
        help="interpreter of a runtime-only environment (pip install . without extras)",
    )
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    import report

    data = run(args.quick, args.runtime_python)
    # the raw numbers next to the markdown: benchmarks/.cache for the default RESULTS.md,
    # else OUT.json
    raw = (
        HERE / ".cache" / "results.json"
        if Path(args.out) == HERE / "RESULTS.md"
        else Path(args.out).with_suffix(".json")
    )
    raw.parent.mkdir(exist_ok=True)
    raw.write_text(json.dumps(data, indent=1, default=str))
    section = report.render(data, " ".join(["python benchmarks/run_all.py"] + sys.argv[1:]))
    write_section(Path(args.out), section)
    print(section)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the markers, or put it before the first dated section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    elif "\n## " in text:
        head, rest = text.split("\n## ", 1)
        text = f"{head}\n{block}\n\n## {rest}"
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
