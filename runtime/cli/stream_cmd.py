"""``edgernn stream``: run a model over a live feed, one JSON line out per record in."""

from __future__ import annotations

import json
import signal
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
import numpy as np

from edgernn.errors import UsageError
from edgernn.model import load
from edgernn.placement import CpuFallbackWarning
from edgernn.providers import PROVIDERS
from edgernn.runner import RunnerConfig, StreamRunner
from edgernn.sinks import open_sink
from edgernn.source_urls import LiveOptions, is_live, open_items
from edgernn.sources import demo_records, open_source, text_lines


@click.command("stream")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--source", "-s", default=None, metavar="SRC",
              help="'demo' (built-in sensor feed), '-' (stdin), a CSV/JSONL file, or a live feed: "
                   "mqtt://[user:pass@]host:port/topic/filter/#, serial:///dev/ttyUSB0?baud=115200, "
                   "udp://host:port. Default: stdin when data is piped in, else demo.")
@click.option("--sink", "sink_spec", default=None, metavar="DST",
              help="Where outputs go: stdout (default, or '-'), a file (JSONL, appended), "
                   "or mqtt://host:port/prefix (JSON to prefix/<key>, QoS 1).")
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
              help="Optional field passed through to the output.")
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
              help="Seconds between status lines on stderr when it is not a terminal (0: none).")
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
    anomaly) and a summary on stderr. Bad records are counted and skipped.
    """
    with warnings.catch_warnings():  # a GPU session's CPU fallback is reported in the summary instead
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(model, provider=provider, intra_op_threads=threads, cuda_graph=cuda_graph)
    if m.signature.task != "forecast":
        hint = {"generate": "edgernn generate", "classify": "edgernn classify", "seq2seq": "edgernn generate MODEL --input TEXT"}.get(m.signature.task, "the API for that task")
        raise UsageError(f"edgernn stream runs forecast models; {m.path.name} is a {m.signature.task!r} model: use {hint}")
    if not m.signature.causal:
        raise UsageError(f"edgernn stream steps causal models; {m.path.name} is a window model (window {m.signature.window}, "
                         "not steppable): run it from Python with model.window_stream()")
    live = LiveOptions(key_field, mqtt_key_level, client_id, csv_header, tls_ca, tls_cert, tls_key)
    with ExitStack() as stack:
        rejects_file = stack.enter_context(open(rejects, "a", encoding="utf-8")) if rejects else None
        sink = open_sink(sink_spec, stack, live)
        items, fmt = _items(source, fmt, limit, stack, live)
        emit = sink.emit
        terminal = _is_terminal(sys.stderr)
        if not quiet and (terminal or status_every):
            emit = _with_status(emit, lambda: runner, 2.0 if terminal else status_every, in_place=terminal, source=items)
        config = RunnerConfig(key_field, timestamp_field, threshold, max_batch, max_delay_ms,
                              Path(state_dir) if state_dir else None, checkpoint_every, idle_s=idle_s,
                              max_keys=max_keys, gap_limit=gap_limit, gap_policy=gap)
        runner = StreamRunner(m, config, emit=emit, reject=_writer(rejects_file) if rejects_file else None,
                              sync=sink.flush, done=getattr(items, "done", None))  # MQTT acks when done
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
        interrupted = False
        try:
            stats = runner.run(items, fmt=fmt, limit=limit)
        except KeyboardInterrupt:
            interrupted = True
            stats = runner.stats
            _say(quiet, "interrupted" + (f"; state saved in {state_dir}" if state_dir else ""))
        finally:
            signal.signal(signal.SIGTERM, previous)
    summary = stats.summary(runner.keys, m.provider) | {"model": str(m.path), "provider_note": m.provider_note,
                                                         "cpu_fallback": m.cpu_fallback}
    if getattr(items, "reconnects", None) is not None:  # a live source that can lose its connection
        summary["reconnects"] = items.reconnects
    if summary_path:
        with open(summary_path, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    if not quiet and _is_terminal(sys.stderr):
        sys.stderr.write("\r\033[K")  # clear the status line
    _say(quiet, _summary_line(summary))
    if interrupted:
        sys.exit(130)  # the shell's convention for a run stopped by a signal


def _items(source: str | None, fmt: str, limit: int | None, stack: ExitStack, live: LiveOptions | None = None):
    if source is None:
        source = "demo" if sys.stdin is None or sys.stdin.isatty() else "-"
    if is_live(source):
        return open_items(source, fmt, live or LiveOptions(), stack)
    if source == "demo":
        return demo_records(limit) if limit else demo_records(), "auto"
    handle = open_source(source)
    if handle is not sys.stdin:
        stack.enter_context(handle)
    return text_lines(handle), fmt


def _writer(handle: IO[str]):
    def write(obj: dict[str, Any]) -> None:
        handle.write(json.dumps(obj, default=str) + "\n")
    return write


def _is_terminal(handle: Any) -> bool:
    return bool(getattr(handle, "isatty", None) and handle.isatty())


def _with_status(emit, get_runner, every_s: float, in_place: bool, source: Any = None):
    """Wrap ``emit`` so a one-line status goes to stderr every ``every_s`` seconds: redrawn in
    place on a terminal, a new line otherwise (logs). Rates and latency are over the interval."""
    last = {"at": time.monotonic(), "steps": 0, "lat": 0}

    def emit_and_report(obj: dict[str, Any]) -> None:
        emit(obj)
        now = time.monotonic()
        if now - last["at"] < every_s:
            return
        runner = get_runner()
        st = runner.stats
        lat = st.latency.recent_us(since=last["lat"])
        p50, p99 = (np.percentile(lat, [50, 99]) if len(lat) else (0.0, 0.0))
        rate = (st.steps - last["steps"]) / (now - last["at"])
        line = (f"{st.steps} steps ({rate:.0f}/s), {runner.keys} key(s), p50 {p50:.0f} us, p99 {p99:.0f} us, "
                f"{st.anomalies} anomalies, {st.rejected} rejected"
                + (f", {source.reconnects} reconnects" if getattr(source, "reconnects", None) is not None else ""))
        sys.stderr.write(f"\r{line} " if in_place else f"status: {line}\n")
        sys.stderr.flush()
        last.update(at=now, steps=st.steps, lat=st.latency.count)

    return emit_and_report


def _summary_line(s: dict[str, Any]) -> str:
    lat = s["latency_us"]
    extra = "".join(f", {s[k]} {k}" for k in ("replayed", "gaps", "reconnects") if s.get(k))
    return (f"{s['steps']} steps, {s['keys']} key(s), {s['anomalies']} anomalies, {s['rejected']} rejected{extra}; "
            f"step latency p50 {lat['p50']} us, p99 {lat['p99']} us, read to output p50 {s['end_to_end_us']['p50']} us; "
            f"on {s['provider']}"
            f"{' (' + s['provider_note'] + ')' if s['provider_note'] else ''}; {s['steps_per_s']} steps/s")


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)
