"""A real MQTT broker for the feed tests: mosquitto on 127.0.0.1, a free port, a temp dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL = "apt-get install -y mosquitto mosquitto-clients openssl (Debian/Ubuntu)"
PACKAGES = ("mosquitto", "mosquitto-clients", "openssl")


def _mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None
    )


def install_broker_packages() -> None:
    """Install mosquitto, its clients and openssl from the Debian packages when one is missing,
    as the README's plain ``pytest`` on a fresh machine needs them (root, or password-less sudo);
    a clear failure naming the command otherwise.
    Every test starts its own broker on 127.0.0.1 and a free port."""
    if _mosquitto_path() and shutil.which("mosquitto_pub") and shutil.which("openssl"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = [
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, "apt-get", "install", "-y", "-qq", *PACKAGES],
    ]
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.fail(
                f"the MQTT tests need {', '.join(PACKAGES)}, and installing them failed ({e}): "
                f"{INSTALL}",
                pytrace=False,
            )
        if r.returncode != 0:
            pytest.fail(
                f"the MQTT tests need {', '.join(PACKAGES)}, and `{' '.join(cmd)}` failed "
                f"({(r.stderr.strip().splitlines() or [f'exit {r.returncode}'])[-1]}): {INSTALL}",
                pytrace=False,
            )


def mosquitto_binary() -> str:
    """The mosquitto binary: on PATH, or where Debian puts it (/usr/sbin, not on a user's PATH);
    installed first when missing (see ``install_broker_packages``)."""
    install_broker_packages()
    found = _mosquitto_path()
    if found is None:
        pytest.fail(
            f"the MQTT tests need the mosquitto broker, which is not installed: {INSTALL}",
            pytrace=False,
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Wait until mosquitto listens (the timeout is only a guard against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"mosquitto exited with {proc.returncode}; see {log}: {tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout} s")


def start_mosquitto(
    work: Path, port: int, conf: str = "allow_anonymous true\n"
) -> subprocess.Popen:
    """A mosquitto of a test's own on 127.0.0.1:``port`` with ``conf`` lines, persistence and
    log in ``work`` (so it can be stopped and started again with its state); stop it with
    ``stop_mosquitto``."""
    as_root = "user root\n" if os.geteuid() == 0 else ""
    path, log = work / f"mosquitto-{port}.conf", work / f"mosquitto-{port}.log"
    path.write_text(
        f"listener {port} 127.0.0.1\n{conf}persistence true\npersistence_location {work}/\n"
        f"autosave_interval 1\nlog_dest file {log}\n{as_root}"
    )
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, proc, log)
    return proc


def stop_mosquitto(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a mosquitto started for this test session and stopped after it."""
    binary = mosquitto_binary()
    work = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    conf = work / "mosquitto.conf"
    log = work / "mosquitto.log"
    # as root it would switch to user mosquitto
    as_root = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {work}/\nmax_queued_messages 100000\nlog_dest file {log}\n{as_root}"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc, log)
        yield "127.0.0.1", port
    finally:
        stop_mosquitto(proc)
