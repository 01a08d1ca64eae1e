"""``edgernn stream``: run a model over a live feed, one JSON line out per record in."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import sys
import threading
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any, Callable

import click
import numpy as np

from edgernn.errors import DataError, UsageError
from edgernn.model import load
from edgernn.placement import CpuFallbackWarning
from edgernn.providers import PROVIDERS
from edgernn.runner import RunnerConfig, StreamRunner
from edgernn.sinks import Sink, open_sink
from edgernn.source_urls import EXAMPLES, LiveOptions, check_spec, is_live, open_items, redact
from edgernn.sources import demo_records, open_source, text_lines

REJECTS_HINT = "rejects are skipped; --rejects PATH keeps them all"


@click.command("stream")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--source", "-s", default=None, metavar="SRC",
              help="'demo' (built-in sensor feed), '-' (stdin), a CSV/JSONL file, or a live feed: "
                   "mqtt://[user:pass@]host:port/topic/filter/# (percent-encoding accepted in user:pass), "
                   "serial:///dev/ttyUSB0?baud=115200, udp://host:port. Default: stdin when data is piped or redirected in, else demo.")
@click.option("--sink", "sink_spec", default=None, metavar="DST",
              help="Where outputs go: stdout (default, or '-'), a file (JSONL, appended), "
                   "or mqtt://host:port/prefix (JSON to prefix/<key>, QoS 1; a broker outage "
                   "delays outputs, and blocks the stream once 10000 wait).")
@click.option("--mqtt-key-level", type=click.IntRange(min=0), default=None, metavar="N",
              help="MQTT: the key is topic level N (0-based; sensors/<id>/data -> 1), stored under --key.")
@click.option("--client-id", default=None, metavar="ID",
              help="MQTT: client id of the persistent session (default: stable per broker and topic).")
@click.option("--csv-header", default=None, metavar="A,B,..",
              help="Live feeds: column names of CSV payloads (MQTT CSV needs it).")
@click.option("--tls-ca", type=click.Path(dir_okay=False), default=None, help="MQTT TLS: CA certificates (PEM).")
@click.option("--tls-cert", type=click.Path(dir_okay=False), default=None, help="MQTT TLS: client certificate (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False), default=None, help="MQTT TLS: client key (PEM).")
@click.option("--key", "key_field", default=None, metavar="FIELD", help="Field naming the series; each key keeps its own state.")
@click.option("--timestamp", "timestamp_field", default="timestamp", show_default=True, metavar="FIELD",
              help="Optional field with each record's time, passed through to the output. Per key it must "
                   "increase: a repeat of a recent record is skipped as a duplicate, an older one is rejected; "
                   "it also skips replays when resuming from --state-dir and measures --gap-limit.")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv"]), default="auto", show_default=True,
              help="Input format; auto looks at the first line.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Stop after N input records.")
@click.option("--rejects", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Append rejected records (JSONL, with the reason) to this file.")
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Anomaly |z| threshold (default: the model's).")
@click.option("--provider", type=click.Choice(PROVIDERS), default="auto", show_default=True,
              help="auto: CUDA when it really runs, else CPU; cuda/tensorrt: an error when they cannot run.")
@click.option("--cuda-graph", is_flag=True, help="CUDA graphs: each fixed-shape step replays one captured launch (CUDA only).")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True, help="ONNX Runtime intra-op threads.")
@click.option("--max-delay-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="How long a record may wait for other keys to share its graph call.")
@click.option("--max-batch", type=click.IntRange(min=1), default=1024, show_default=True, help="Most keys in one graph call.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Keep every key's state here: resume from it, checkpoint to it (atomically).")
@click.option("--max-keys", type=click.IntRange(min=1), default=None,
              help="Reject records of new keys beyond this many (bounded memory).")
@click.option("--gap-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="A key's timestamp gap longer than this (seconds for ISO timestamps) is a gap.")
@click.option("--gap", type=click.Choice(["carry", "reset"]), default="carry", show_default=True,
              help="On a gap: carry the state on, or start the key's stream over.")
@click.option("--idle-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Spill a key's state after this many seconds without records (restored when it returns).")
@click.option("--status-every", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds between status lines on stderr when it is not a terminal (0: none). "
                   "Connection losses and reconnections are noted as they happen (not with --quiet).")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Checkpoint after this many steps (also every 5 s and at the end).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the final summary as JSON to this file.")
@click.option("--quiet", "-q", is_flag=True, help="No summary or notes on stderr.")
def command(model: str | None, source: str | None, key_field: str | None, timestamp_field: str, fmt: str,
            limit: int | None, rejects: str | None, threshold: float | None, provider: str, threads: int,
            max_delay_ms: float, max_batch: int, state_dir: str | None, checkpoint_every: int,
            summary_path: str | None, quiet: bool, max_keys: int | None, gap_limit: float | None, gap: str,
            idle_s: float | None, status_every: float, sink_spec: str | None = None,
            mqtt_key_level: int | None = None, client_id: str | None = None, csv_header: str | None = None,
            tls_ca: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
            cuda_graph: bool = False) -> None:
    """Stream records through MODEL (default: the shipped sensor forecaster).

    Prints one JSON object per good record on stdout (key, step, forecast, anomaly_score,
    anomaly) and a summary on stderr. Bad records are counted and skipped. SIGTERM ends the
    stream cleanly (summary, checkpoint, sinks flushed; exit 0); Ctrl-C too, with exit 130.
    """
    terminal = _is_terminal(sys.stderr)
    status = Status(None if quiet else (2.0 if terminal else status_every or None), in_place=terminal, quiet=quiet)
    stop = threading.Event()
    with Signals(stop) as signals:
        try:
            summary = _stream(click.get_current_context().params, status, signals, stop)
        except KeyboardInterrupt:  # before the stream ran (loading, connecting), or a second signal
            if signals.received != signal.SIGTERM:
                _say(quiet, "interrupted")
                sys.exit(130)
            _say(quiet, "stopped (SIGTERM)")
            return
    _say(quiet, _summary_line(summary))
    if signals.received:
        saved = f"; state saved in {state_dir}" if state_dir and not summary["state_behind"] else ""
        _say(quiet, ("stopped (SIGTERM)" if signals.received == signal.SIGTERM else "interrupted") + saved)
    if summary.get("sink_undelivered"):
        raise DataError(f"{summary['sink_undelivered']} output(s) were never confirmed by the MQTT broker "
                        f"({summary['sink']}) and may be lost; check the broker")
    if signals.received == signal.SIGINT:
        sys.exit(130)  # the shell's convention for a run stopped by Ctrl-C; SIGTERM is a normal stop


def _stream(a: dict[str, Any], status: Status, signals: Signals, stop: threading.Event) -> dict[str, Any]:
    """Open model, sinks and source from the command's arguments ``a``, run, return the summary."""
    with warnings.catch_warnings():  # a GPU session's CPU fallback is reported in the summary instead
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(a["model"], provider=a["provider"], intra_op_threads=a["threads"], cuda_graph=a["cuda_graph"])
    _check_task(m)
    live = LiveOptions(a["key_field"], a["mqtt_key_level"], a["client_id"], a["csv_header"], a["tls_ca"],
                       a["tls_cert"], a["tls_key"], notify=None if a["quiet"] else status.note, stop=stop)
    state_dir = Path(a["state_dir"]) if a["state_dir"] else None
    with ExitStack() as stack:
        rejects_file = stack.enter_context(open(a["rejects"], "a", encoding="utf-8")) if a["rejects"] else None
        sink = open_sink(a["sink_spec"], stack, live)
        items, fmt = _items(a["source"], a["fmt"], a["limit"], stack, live)
        config = RunnerConfig(a["key_field"], a["timestamp_field"], a["threshold"], a["max_batch"], a["max_delay_ms"],
                              state_dir, a["checkpoint_every"], idle_s=a["idle_s"], max_keys=a["max_keys"],
                              gap_limit=a["gap_limit"], gap_policy=a["gap"])
        reject = Rejects(rejects_file, a["rejects"], status)
        runner = StreamRunner(m, config, emit=sink.emit, reject=reject, sync=sink.flush,
                              done=getattr(items, "done", None),  # MQTT acks when done
                              idle=None if sink.live else sink.flush)  # stdout or a file: out of the buffer
        signals.runner = runner
        status.start(_describe(runner, items, sink))
        try:
            stats = runner.run(items, fmt=fmt, limit=a["limit"])
        except KeyboardInterrupt:  # a signal while waiting for input: the run's checkpoint is done
            stats = runner.stats
        finally:
            status.stop()
        reject.explain(stats)
        undelivered = sink.close()
        if runner.behind and not undelivered:  # the sink got everything out after all: save now
            runner.checkpoint()
    summary = _summary(m, runner, stats, items, sink, undelivered)
    if a["summary_path"]:
        with open(a["summary_path"], "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return summary


def _summary(m: Any, runner: StreamRunner, stats: Any, source: Any, sink: Sink, undelivered: int) -> dict[str, Any]:
    summary = stats.summary(runner.keys, m.provider, spilled=len(runner.pool.spilled)) | {
        "model": str(m.path), "provider_note": m.provider_note, "cpu_fallback": m.cpu_fallback,
        "state_behind": runner.behind}  # the last checkpoint waited for a sink that never confirmed
    if getattr(source, "reconnects", None) is not None:  # a live source that can lose its connection
        summary["reconnects"] = source.reconnects
        summary["duplicates"] += getattr(source, "duplicates", 0)
    if sink.live is not None:
        summary |= {"sink": sink.live.url.where, "sink_reconnects": sink.live.reconnects, "sink_undelivered": undelivered}
    return summary


def _check_task(m: Any) -> None:
    if m.signature.task != "forecast":
        hint = {"generate": "edgernn generate", "classify": "edgernn classify", "seq2seq": "edgernn generate MODEL --input TEXT"}.get(m.signature.task, "the API for that task")
        raise UsageError(f"edgernn stream runs forecast models; {m.path.name} is a {m.signature.task!r} model: use {hint}")
    if not m.signature.causal:
        raise UsageError(f"edgernn stream steps causal models; {m.path.name} is a window model (window {m.signature.window}, "
                         "not steppable): run it from Python with model.window_stream()")


def _items(source: str | None, fmt: str, limit: int | None, stack: ExitStack, live: LiveOptions | None = None):
    if source is None:
        source = "-" if _piped_stdin() else "demo"
    if is_live(source):
        return open_items(source, fmt, live or LiveOptions(), stack)
    if source == "demo":
        return demo_records(limit) if limit else demo_records(), "auto"
    if source != "-":
        check_spec(source, "--source", EXAMPLES)  # a mistyped URL is not a file name
        if redact(source) != source and not Path(source).is_file():
            raise DataError(f"source {redact(source)!r} is not a file; pass a CSV/JSONL path, '-' for stdin, or 'demo'")
    handle = open_source(source)
    if handle is not sys.stdin:
        stack.enter_context(handle)
    return text_lines(handle), fmt


class Signals:
    """SIGINT (Ctrl-C) and SIGTERM end a stream cleanly: at once while the runner waits for
    input (nothing is half done), else after the record in hand, so a tick is never cut in
    half; a second signal stops at once. ``stop`` is set too, so a sink stops waiting for room."""

    def __init__(self, stop: threading.Event):
        self.stop, self.runner, self.received = stop, None, None
        self._previous: dict = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
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


def _describe(runner: StreamRunner, source: Any, sink: Sink) -> Callable[[], str]:
    """The status line's text; rates and latency are over the interval since the last line."""
    last = {"at": time.monotonic(), "steps": 0, "lat": 0}

    def describe() -> str:
        now, st = time.monotonic(), runner.stats
        lat = st.latency.recent_us(since=last["lat"])
        latency = "p50 {:.0f} us, p99 {:.0f} us".format(*np.percentile(lat, [50, 99])) if len(lat) else "no steps since the last line"
        rate = (st.steps - last["steps"]) / max(now - last["at"], 1e-9)
        last.update(at=now, steps=st.steps, lat=st.latency.count)
        spilled = len(runner.pool.spilled)
        parts = [f"{st.steps} steps ({rate:.0f}/s)", f"{runner.keys} key(s)" + (f" ({spilled} spilled)" if spilled else ""),
                 latency, f"{st.anomalies} anomalies", f"{st.rejected} rejected"]
        duplicates = st.duplicates + getattr(source, "duplicates", 0)
        parts += [f"{duplicates} duplicates"] if duplicates else []
        if getattr(source, "reconnects", None) is not None:
            parts.append(f"{source.reconnects} source reconnects")
        if sink.live is not None:
            parts.append(f"{sink.live.reconnects} sink reconnects")
            if not sink.live.link.connected:
                parts.append(f"sink broker unreachable, {sink.live.waiting} output(s) waiting")
        return ", ".join(parts)

    return describe


class Rejects:
    """The runner's reject callback: appends to the --rejects file, and says why the first
    record was rejected when nothing else would show it (no --rejects file, or every record)."""

    def __init__(self, handle: IO[str] | None, path: str | None, status: Status):
        self.handle, self.path, self.status = handle, path, status
        self.first: dict[str, Any] | None = None

    def __call__(self, obj: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps(obj, default=str) + "\n")
        if self.first is None:
            self.first = obj
            if self.handle is None:
                self.status.note(f"note: record {obj['line']} rejected: {obj['reason']}; {REJECTS_HINT}")

    def explain(self, stats: Any) -> None:
        """Every record rejected: say why the first was, even when the file has them all."""
        if self.first is not None and self.handle is not None and stats.steps == 0:
            self.status.note(f"note: every record was rejected; the first (record {self.first['line']}): "
                             f"{self.first['reason']}; all are in {self.path}")


def _piped_stdin() -> bool:
    """Whether data is piped or redirected in: a pipe, a file or a socket. A terminal, /dev/null
    (how cron, CI and ``nohup`` start a program) or no stdin at all means the demo feed."""
    if sys.stdin is None:
        return False
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):  # an in-memory stdin (a test runner's): data
        return not _is_terminal(sys.stdin)
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)


def _is_terminal(handle: Any) -> bool:
    return bool(getattr(handle, "isatty", None) and handle.isatty())


def _summary_line(s: dict[str, Any]) -> str:
    lat = s["latency_us"]
    labels = {"duplicates": "duplicates", "replayed": "replayed", "gaps": "gaps", "spills": "idle spills",
              "reconnects": "source reconnects", "sink_reconnects": "sink reconnects",
              "checkpoints_postponed": "checkpoints postponed"}
    extra = "".join(f", {s[k]} {label}" for k, label in labels.items() if s.get(k))
    keys = f"{s['keys']} key(s)" + (f" ({s['keys_active']} active, {s['keys_spilled']} spilled)" if s["keys_spilled"] else "")
    return (f"{s['steps']} steps, {keys}, {s['anomalies']} anomalies, {s['rejected']} rejected{extra}; "
            f"step latency p50 {lat['p50']} us, p99 {lat['p99']} us, read to output p50 {s['end_to_end_us']['p50']} us; "
            f"on {s['provider']}"
            f"{' (' + s['provider_note'] + ')' if s['provider_note'] else ''}; {s['steps_per_s']} steps/s")


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)
