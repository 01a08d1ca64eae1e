"""What every command shares at the terminal: the status line, signals, stdin and stderr."""

from __future__ import annotations

import io
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

import click

from edgernn.core.providers import PROVIDERS


class Stoppable(Protocol):
    """What ``Signals`` needs of the stream loop (``StreamRunner``)."""

    waiting: bool  # blocked waiting for input: nothing is half done

    def stop(self) -> None: ...


class Signals:
    """SIGINT (Ctrl-C) and SIGTERM end a stream cleanly: at once while the runner waits for
    input (nothing is half done), else after the record in hand, so a tick is never cut in
    half; a second signal stops at once. ``stop`` is set too, so a sink stops waiting for room."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.runner: Stoppable | None = None  # the stream loop, once it runs
        self.received: int | None = None  # the first signal received
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)
            }
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        again = self.received is not None
        self.received = self.received or signum
        self.stop.set()
        if again or self.runner is None or self.runner.waiting:
            raise KeyboardInterrupt
        self.runner.stop()


class Status:
    """stderr while streaming: a status line every ``every_s`` seconds from a daemon thread
    (redrawn in place on a terminal, a new line otherwise) whether or not outputs flow, and
    notes (connection lost / back, the first reject) as they happen. Thread-safe."""

    def __init__(self, every_s: float | None, in_place: bool, quiet: bool):
        self.every_s, self.in_place, self.quiet = every_s, in_place, quiet
        self.err = sys.stderr
        self._lock, self._done = threading.Lock(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, describe: Callable[[], str]) -> None:
        if self.every_s:
            self._thread = threading.Thread(target=self._run, args=(describe,), daemon=True)
            self._thread.start()

    def _run(self, describe: Callable[[], str]) -> None:
        while not self._done.wait(self.every_s):
            line = describe()
            self._write(f"\r\033[K{line} " if self.in_place else f"status: {line}\n")

    def note(self, text: str) -> None:
        if not self.quiet:
            self._write(f"\r\033[K{text}\n" if self.in_place else f"{text}\n")

    def _write(self, text: str) -> None:
        with self._lock:
            self.err.write(text)
            self.err.flush()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            if self.in_place:
                self._write("\r\033[K")  # clear the status line


def piped_stdin() -> bool:
    """Whether data is piped or redirected in: a pipe, a file or a socket. A terminal, /dev/null
    (how cron, CI and ``nohup`` start a program) or no stdin at all means the demo feed."""
    if sys.stdin is None:
        return False
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    # an in-memory stdin (a test runner's): data
    except (
        OSError,
        ValueError,
        io.UnsupportedOperation,
    ):
        return not is_terminal(sys.stdin)
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def is_terminal(handle: Any) -> bool:
    return bool(getattr(handle, "isatty", None) and handle.isatty())


def say(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)


class Progress:
    """``[i/n] what`` on stderr: redrawn in place on a terminal, one line each otherwise."""

    def __init__(self, name: str, total: int, quiet: bool):
        self.name, self.total, self.i, self.quiet = name, total, 0, quiet
        self.tty = is_terminal(sys.stderr)

    def __call__(self, text: str) -> None:
        self.i += 1
        if not self.quiet:
            line = f"{self.name} [{self.i}/{self.total}] {text}"
            sys.stderr.write(f"\r\033[K{line}" if self.tty else line + "\n")
            sys.stderr.flush()

    def done(self, note: str | None) -> None:
        if not self.quiet and self.tty:
            sys.stderr.write("\r\033[K")
        if note:
            click.echo(note, err=True)


# ---- options several commands share --------------------------------------------------------
def provider_option(default: str = "cpu", help: str | None = None) -> Callable[[Any], Any]:
    """``--provider`` (cpu, cuda, tensorrt, auto): where the graph runs."""
    return click.option(
        "--provider", type=click.Choice(PROVIDERS), default=default, show_default=True, help=help
    )


def json_option(help: str) -> Callable[[Any], Any]:
    """``--json``: print one JSON object for scripts instead of text for people."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def train_output_options(
    out: str, no_export_help: str = "Do not export OUT/model.onnx."
) -> Callable[[Any], Any]:
    """``--out``, ``--no-export``, ``--quiet`` and ``--json``: how every ``edgernn train``
    command writes its results."""
    options = [
        click.option(
            "--out",
            default=out,
            show_default=True,
            type=click.Path(file_okay=False),
            help="Output folder.",
        ),
        click.option("--no-export", is_flag=True, help=no_export_help),
        click.option(
            "--quiet", is_flag=True, help="No progress on stderr (first line, bars, epoch lines)."
        ),
        json_option("Print the final report as JSON on stdout (progress stays on stderr)."),
    ]

    def apply(f: Any) -> Any:
        for option in reversed(options):  # the first listed comes first in --help
            f = option(f)
        return f

    return apply
