"""What the Flink tests share: keyed sensor lines with bad records among them, the reference
outputs of ``edgernn stream --key`` on the same lines, and the committed outputs of a job."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from edgernn.flink import pyflink_missing

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from sensor_feeds import keyed_lines  # noqa: E402

MISSING = pyflink_missing()
needs_flink = pytest.mark.skipif(
    MISSING is not None,
    reason=f"{MISSING} is missing: these run in .ci/run's flink stage "
    "(pip install 'edgernn[flink]', Java 17)",
)

BAD = [
    '{"sensor": "k1", "timestamp": 3.5, "temp": NaN, "humidity": 40}',
    "not json at all",
    '{"sensor": "k2", "timestamp": 4.5, "temp": 21.0}',
    '{"sensor": "k0", "timestamp": 1, "temp": 22.0, "humidity": 41}',  # out of order (late)
    "",
    '{"sensor": "k3", "timestamp": 9.5, "temp": 21.0, "humidity": 40, "rssi": -70}',
]


def feed(keys: int = 6, steps: int = 40, seed: int = 0, bad: bool = True) -> list[str]:
    """JSON lines of ``keys`` sensors interleaved step by step, with ``BAD`` lines spread in
    and one exact redelivery (skipped as a duplicate)."""
    lines = keyed_lines([f"k{i}" for i in range(keys)], steps, seed)
    if bad:
        for i, b in enumerate(BAD):
            lines.insert(len(lines) * (i + 1) // (len(BAD) + 1), b)
        lines.insert(len(lines) // 2, lines[len(lines) // 2 - 3])  # a redelivery
    return lines


def reference(lines: list[str], tmp: Path) -> tuple[dict[str, list[str]], list[dict]]:
    """``edgernn stream --key sensor`` on ``lines``: outputs by key (in order) and rejects."""
    src, rej = tmp / "ref-in.jsonl", tmp / "ref-rejects.jsonl"
    src.write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--source", str(src)]
    r = subprocess.run(
        [*cmd, "--rejects", str(rej), "--quiet"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    rejects = [json.loads(x) for x in rej.read_text().splitlines()] if rej.exists() else []
    return by_key(r.stdout.splitlines()), rejects


def by_key(lines: list[str]) -> dict[str, list[str]]:
    """Output lines grouped by key, each key's in step order (a repeat would show twice)."""
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in lines:
        obj = json.loads(line)
        out[obj["key"]].append((obj["step"], line))
    return {k: [line for _, line in sorted(v)] for k, v in sorted(out.items())}


def committed(folder: Path) -> list[str]:
    """The lines of a file sink's committed part files (in-progress files are hidden)."""
    if not folder.exists():
        return []
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return [line for p in sorted(files) for line in p.read_text().splitlines()]
