"""Soak `edgernn stream`: a fast source, a slow sink, a million records; RSS must stay flat.

    python benchmarks/stream_soak.py [--records 1000000] [--keys 100] [--sink-delay-us 5] [--json]

Records (JSON lines, `--keys` sensors interleaved, one bad line in 1000) are written into the
stream's stdin as fast as the pipe takes them; its stdout is read by a deliberately slow
reader. Backpressure (the pipe, then the runner's bounded queue) must hold memory flat: the
stream's RSS is sampled from /proc every 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time


def feed(stdin, n: int, keys: int) -> None:
    for i in range(n):
        if i % 1000 == 999:
            stdin.write(b'{"sensor": "s0", "temp": "oops"}\n')
            continue
        t = i // keys
        stdin.write(
            (
                f'{{"sensor": "s{i % keys}", "timestamp": {t}, '
                f'"temp": {20 + (t % 96) / 10}, "humidity": 55.0}}\n'
            ).encode()
        )
    stdin.close()


def slow_reader(stdout, delay_s: float, counted: list) -> None:
    for _ in stdout:
        counted[0] += 1
        if delay_s and counted[0] % 100 == 0:
            time.sleep(delay_s * 100)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument(
        "--sink-delay-us", type=float, default=5.0, help="reader's delay per output line"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    counted = [0]
    threads = [
        threading.Thread(target=feed, args=(proc.stdin, args.records, args.keys)),
        threading.Thread(target=slow_reader, args=(proc.stdout, args.sink_delay_us / 1e6, counted)),
    ]
    t0 = time.monotonic()
    [t.start() for t in threads]
    samples = []
    while proc.poll() is None:
        rss = rss_mb(proc.pid)
        if rss is not None:
            samples.append((round(time.monotonic() - t0, 1), counted[0], round(rss, 1)))
        time.sleep(0.5)
    [t.join() for t in threads]
    warm = [r for _, n, r in samples if n >= args.records // 5]
    result = {
        "records": args.records,
        "keys": args.keys,
        "outputs": counted[0],
        "seconds": round(time.monotonic() - t0, 1),
        "exit": proc.returncode,
        "rss_mb_first": samples[0][2] if samples else None,
        "rss_mb_after_warmup": [min(warm), max(warm)] if warm else None,
        "rss_growth_after_warmup_mb": round(max(warm) - min(warm), 1) if warm else None,
        "samples": samples[:: max(1, len(samples) // 20)],
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
