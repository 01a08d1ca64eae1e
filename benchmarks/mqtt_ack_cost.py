"""What acknowledging MQTT messages only after a checkpoint costs (issue 14, defect 9).

    python benchmarks/mqtt_ack_cost.py [--records 20000] [--keys 50,5000] [--json]
        [--baseline-src DIR]

Starts mosquitto on 127.0.0.1 (its default in-flight window, 20 messages), leaves a persistent
session for the stream, publishes ``--records`` JSON records over K keys into it while the
stream is stopped, then times ``edgernn stream --source mqtt://... --limit N`` draining the
session (process start to exit, outputs to a file), for each K:

- ``no state``: no ``--state-dir``; each message is acked once its record is finished;
- ``state, acks held``: ``--state-dir``; a message is acked once a committed checkpoint
  holds it (a checkpoint at 10 held messages or 5 s);
- ``state, acks early`` (with ``--baseline-src``, a source tree from before the change, its
  ``runtime/`` run as ``edgernn``): ``--state-dir``, acked when finished, checkpoints every 5 s
  or 10,000 steps (what a crash could lose).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mqtt_soak import broker, free_port, publish  # benchmarks/ is on the path as a script


def drain(port: int, n: int, keys: int, tmp: Path, state: bool, env: dict[str, str]) -> dict:
    """Publish ``n`` records into a fresh session, then time a stream that reads them all."""
    client = f"ack-{keys}-{state}-{len(env)}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "edgernn", "stream", "--source", f"mqtt://127.0.0.1:{port}/s/+"]
    cmd += ["--mqtt-key-level", "1", "--key", "sensor", "--client-id", client, "--quiet"]
    subprocess.run([*cmd, "--limit", "0"], check=True, timeout=120, env=env)  # the session
    publish(port, n, keys)
    out, summary = tmp / f"{client}.jsonl", tmp / f"{client}.summary.json"
    cmd += ["--limit", str(n), "--sink", str(out), "--summary", str(summary)]
    if state:
        cmd += ["--state-dir", str(tmp / client)]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, timeout=1200, env=env)
    seconds = time.monotonic() - t0
    s = json.loads(summary.read_text())
    lines = len(out.read_text().splitlines())
    return {
        "keys": keys,
        "records": n,
        "outputs": lines,
        "seconds": round(seconds, 2),
        "records_per_s": round(n / seconds),
        "checkpoints": s.get("checkpoints"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--keys", default="50,5000")
    ap.add_argument("--baseline-src", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        port = free_port()
        mosq = broker(tmp, port)
        env = dict(os.environ)
        variants = [("no state", False, env), ("state, acks held", True, env)]
        if args.baseline_src is not None:  # the old runtime as the package edgernn
            old = tmp / "old" / "edgernn"
            shutil.copytree(args.baseline_src / "runtime", old)
            (old / "exported").symlink_to(Path(__file__).resolve().parents[1] / "exported")
            old_env = env | {"PYTHONPATH": str(old.parent)}
            variants.append(("state, acks early", True, old_env))
        try:
            for keys in (int(k) for k in args.keys.split(",")):
                for name, state, variant_env in variants:
                    row = drain(port, args.records, keys, tmp, state, variant_env)
                    rows.append({"variant": name} | row)
                    if not args.json:
                        print(rows[-1], flush=True)
        finally:
            mosq.terminate()
            mosq.wait(timeout=10)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
