"""`edgernn stream --state-dir`: killed with SIGKILL, restarted, every key goes on as if
nothing happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sensor_feeds import keyed_lines

KEYS = ("s1", "s2", "s3")


def feed_lines(T: int = 300) -> list[str]:
    return keyed_lines(KEYS, T)


def stream_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "edgernn", "stream", "--key", "sensor", "--quiet", *extra]


def stream_lines(*extra: str) -> list[str]:
    """The output lines of a whole `edgernn stream` run with ``extra`` arguments."""
    run = subprocess.run(stream_cmd(*extra), capture_output=True, text=True, check=True)
    return run.stdout.splitlines()


def by_key_step(lines: list[str]) -> dict:
    out = {}
    for line in lines:
        d = json.loads(line)
        out.setdefault((d["key"], d["step"]), []).append(d)
    return out


def test_sigkill_then_restart_continues_every_key_exactly(tmp_path: Path):
    lines = feed_lines()
    src = tmp_path / "feed.jsonl"
    src.write_text("\n".join(lines) + "\n")
    full = stream_lines("--source", str(src))
    assert len(full) == len(lines)

    state = tmp_path / "state"
    proc = subprocess.Popen(
        stream_cmd("--state-dir", str(state), "--checkpoint-every", "60"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc.stdin.write("\n".join(lines[:500]) + "\n")
    proc.stdin.flush()
    first = [proc.stdout.readline() for _ in range(450)]
    deadline = time.monotonic() + 30
    while not (state / "state.db").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # every line the killed run got out (read or still in the pipe) counts as delivered
    first += proc.stdout.read().splitlines()
    assert (state / "state.db").exists(), "a checkpoint was written before the kill"

    # restart over the whole input: what the checkpoint holds is skipped, the rest goes on
    second = stream_lines("--state-dir", str(state), "--source", str(src))
    want = by_key_step(full)
    got = by_key_step([x for x in first if x.strip()] + second)
    assert set(got) == set(want)  # no key lost, no step missing
    for ks, outs in got.items():
        assert all(o == want[ks][0] for o in outs), ks  # repeats, if any, are identical
    assert len(second) < len(lines)  # it did resume rather than start over
    assert [json.loads(x) for x in second] == [
        json.loads(x) for x in full[len(full) - len(second) :]
    ]


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGTERM, 0, "stopped (SIGTERM)"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_saves_state_and_says_so(tmp_path: Path, sig, code, said):
    """SIGTERM (systemd's stop) is a clean end, exit 0; Ctrl-C exits 130. Both save the state."""
    state = tmp_path / "state"
    cmd = [c for c in stream_cmd("--state-dir", str(state)) if c != "--quiet"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdin.write("\n".join(feed_lines(20)) + "\n")
    proc.stdin.flush()
    for _ in range(60):
        proc.stdout.readline()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert (
        "60 steps" in err
        and f"{said}; state saved in {state}" in err
        and (state / "state.db").exists()
    )


def test_sigterm_mid_file_stops_between_records_and_resumes_exactly(tmp_path: Path):
    """A stop never cuts a tick in half: what the stopped run printed plus what a restart
    prints is exactly one full run's output."""
    src = tmp_path / "feed.jsonl"
    src.write_text("\n".join(feed_lines(2000)) + "\n")
    full = stream_lines("--source", str(src))
    state = tmp_path / "state"
    proc = subprocess.Popen(
        stream_cmd("--state-dir", str(state), "--source", str(src)),
        stdout=subprocess.PIPE,
        text=True,
    )
    first = [proc.stdout.readline() for _ in range(100)]
    proc.send_signal(signal.SIGTERM)
    first += proc.stdout.read().splitlines()
    assert proc.wait(timeout=30) == 0
    second = stream_lines("--state-dir", str(state), "--source", str(src))
    assert len(first) < len(full), "the stop came before the end of the file"
    assert [json.loads(x) for x in first + second] == [json.loads(x) for x in full]
