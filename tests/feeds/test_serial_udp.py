"""Serial (a real pseudo-terminal) and UDP (real datagrams on 127.0.0.1) sources: the lines a
device sends come out exactly as the same lines read from a file."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner
from sensor_feeds import keyed_lines

from edgernn.cli import main
from edgernn.feeds.live import open_items
from edgernn.feeds.options import LiveOptions
from edgernn.serve.config import RunnerConfig
from edgernn.serve.runner import StreamRunner

pytest.importorskip("serial")  # pyserial is in the test extra

KEYS = ("a", "b")
STREAM = [sys.executable, "-m", "edgernn", "stream"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lines(T: int = 20) -> list[str]:
    return keyed_lines(KEYS, T, seed=30)


def run_items(model, items, fmt: str, limit: int) -> list[dict]:
    out: list[dict] = []
    StreamRunner(model, RunnerConfig(key_field="sensor"), emit=out.append).run(
        items, fmt=fmt, limit=limit
    )
    return out


def from_file(model, text_lines: list[str], fmt: str = "auto") -> list[dict]:
    return run_items(model, list(enumerate(text_lines, start=1)), fmt, limit=len(text_lines))


def test_serial_lines_from_a_pty_match_a_file_run(model):
    master, slave = os.openpty()
    feed = lines()
    try:
        with ExitStack() as stack:
            items, fmt = open_items(
                f"serial://{os.ttyname(slave)}?baud=9600", "auto", LiveOptions("sensor"), stack
            )
            os.write(master, ("\r\n".join(feed[:7]) + "\r\n").encode())  # a device's CRLF lines
            os.write(master, ("\n".join(feed[7:]) + "\n").encode())
            got = run_items(model, items, fmt, limit=len(feed))
    finally:
        os.close(master)
        os.close(slave)
    assert fmt == "jsonl"
    assert got == from_file(model, feed)


def test_serial_csv_with_a_header_option_and_a_garbled_line(model):
    master, slave = os.openpty()
    rows = [json.loads(x) for x in lines(10)]
    csv_rows = [f"{r['sensor']},{r['timestamp']},{r['temp']!r},{r['humidity']!r}" for r in rows]
    header = "sensor,timestamp,temp,humidity"
    try:
        with ExitStack() as stack:
            items, fmt = open_items(
                f"serial://{os.ttyname(slave)}?baud=115200",
                "auto",
                LiveOptions("sensor", csv_header=header),
                stack,
            )
            os.write(
                master,
                ("\n".join(csv_rows[:5] + ["a,5,\x00garbage"] + csv_rows[5:]) + "\n").encode(),
            )
            got = run_items(model, items, fmt, limit=len(csv_rows) + 1)
    finally:
        os.close(master)
        os.close(slave)
    assert fmt == "csv"
    assert got == from_file(model, [header] + csv_rows)


def test_serial_errors_are_one_clear_line():
    r = CliRunner().invoke(main, ["stream", "--source", "serial:///dev/no-such-tty?baud=9600"])
    assert r.exit_code == 5 and r.stderr.startswith("error: ") and "/dev/no-such-tty" in r.stderr
    r = CliRunner().invoke(main, ["stream", "--source", "serial:///dev/ttyS0?baud=fast"])
    assert r.exit_code == 2 and "baud" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_udp_datagrams_match_a_file_run(model):
    port = free_port()
    feed = lines()
    with ExitStack() as stack, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        items, fmt = open_items(f"udp://127.0.0.1:{port}", "auto", LiveOptions("sensor"), stack)
        for i in range(0, len(feed), 3):  # several lines per datagram, as gateways batch them
            tx.sendto(("\n".join(feed[i : i + 3]) + "\n").encode(), ("127.0.0.1", port))
        tx.sendto(b"\xff not a record\n", ("127.0.0.1", port))
        got = run_items(model, items, fmt, limit=len(feed) + 1)
    assert got == from_file(model, feed)


def udp_bound(port: int) -> bool:
    """Does a socket of this machine listen on UDP ``port``? Read from /proc/net/udp where it
    exists; elsewhere a bind of our own finds out (which, held for that moment, can make the
    stream's own bind fail)."""
    table = Path("/proc/net/udp")
    if table.exists():
        return any(
            int(line.split()[1].rsplit(":", 1)[1], 16) == port
            for line in table.read_text().splitlines()[1:]
        )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def wait_until_bound(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until the stream has bound the port (the timeout is only a guard against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if udp_bound(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"the stream did not bind UDP port {port} (exit {proc.poll()})")


def test_udp_source_through_the_cli_to_a_file_sink(tmp_path, model):
    port = free_port()
    feed = lines(10)
    out = tmp_path / "out.jsonl"
    cmd = [*STREAM, "--source", f"udp://127.0.0.1:{port}", "--key", "sensor"]
    cmd += ["--limit", str(len(feed)), "--sink", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_bound(port, proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for line in feed:
                tx.sendto(line.encode(), ("127.0.0.1", port))
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stdout == ""
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert got == json.loads(json.dumps(from_file(model, feed)))


def test_udp_port_in_use_is_one_clear_line():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = CliRunner().invoke(main, ["stream", "--source", f"udp://127.0.0.1:{port}"])
    assert r.exit_code == 5 and r.stderr.startswith("error: ") and f"127.0.0.1:{port}" in r.stderr
    r = CliRunner().invoke(main, ["stream", "--source", "udp://127.0.0.1"])
    assert r.exit_code == 2 and "udp://" in r.stderr


def test_status_lines_come_on_time_without_outputs_and_the_first_reject_is_explained():
    """A live feed of rejects only (--key device, the records say sensor): no output ever, yet
    status lines keep coming, and the first reject's reason is shown once; SIGTERM ends it, 0."""
    port = free_port()
    cmd = [*STREAM, "--source", f"udp://127.0.0.1:{port}", "--key", "device"]
    cmd += ["--status-every", "0.1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_until_bound(port, proc)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for line in lines(3):
                tx.sendto(line.encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + 60  # a guard against a hang: the lines come every 0.1 s
        while sum("0 steps" in x and "6 rejected" in x for x in err) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, "".join(err)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(60)
        assert not reader.is_alive()  # stderr read to its end: err[-1] below is the last line
        stdout = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and stdout == "", "".join(err)
    assert sum(x.startswith("status: 0 steps") and "6 rejected" in x for x in err) >= 2, "".join(
        err
    )
    notes = [x for x in err if x.startswith("note: ")]
    assert len(notes) == 1 and "record 1 rejected: unexpected field(s) 'sensor'" in notes[0]
    assert "--rejects PATH keeps them all" in notes[0] and "stopped (SIGTERM)" in err[-1]
