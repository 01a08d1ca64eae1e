"""Start-up cost of `edgernn stream`: time to the first output line and peak RSS.

Runs the stream as a fresh process with the given interpreter (point --python at a
runtime-only virtual environment), and the same stream in a process that imports torch
first, to show what staying torch-free buys at the edge.

    python benchmarks/startup.py [--python PATH] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STREAM = ["stream", "--source", "demo", "--limit", "200", "--quiet"]
CASES = {
    "edgernn stream (runtime only)": "from edgernn.cli import main; main({args})",
    "same, after import torch": "import torch; from edgernn.cli import main; main({args})",
}


def measure(python: str, code: str) -> tuple[float, float]:
    """(seconds to the first stdout line, peak RSS in MB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdout.readline()
    first = time.perf_counter() - t0
    proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{code!r} failed under {python}")
    return first, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--python", default=sys.executable, help="interpreter of the environment to measure"
    )
    ap.add_argument(
        "--torch-python", default=sys.executable, help="interpreter that has torch installed"
    )
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {}
    for name, template in CASES.items():
        python = args.python if "runtime only" in name else args.torch_python
        runs = [measure(python, template.format(args=STREAM)) for _ in range(args.repeat)]
        firsts, rss = zip(*runs)
        results[name] = {
            "first_output_s_median": round(statistics.median(firsts), 3),
            "first_output_s_min": round(min(firsts), 3),
            "peak_rss_mb_median": round(statistics.median(rss), 1),
            "python": python,
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        print(
            f"{name:<32} first output {r['first_output_s_median']:.3f} s (min "
            f"{r['first_output_s_min']:.3f})"
            f"   peak RSS {r['peak_rss_mb_median']:.1f} MB"
        )


if __name__ == "__main__":
    main()
