"""``edgernn stream``: run a model over a live feed, one JSON line out per record in."""

from __future__ import annotations

import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import Signals, Status, is_terminal, piped_stdin, provider_option, say
from edgernn.cli.stream_report import Rejects, describe, summary, summary_line
from edgernn.core.drift import DRIFT_THRESHOLD
from edgernn.core.model import load
from edgernn.core.placement import CpuFallbackWarning
from edgernn.errors import DataError, UsageError
from edgernn.feeds.files import demo_records, open_source, text_lines
from edgernn.feeds.live import open_items
from edgernn.feeds.options import EXAMPLES, Item, LiveOptions, check_spec, is_live, redact
from edgernn.feeds.protocols import LiveSource
from edgernn.feeds.sinks import open_sink
from edgernn.serve.config import RunnerConfig
from edgernn.serve.runner import StreamRunner
from edgernn.tasks.registry import require


@dataclass(frozen=True)
class StreamOptions:
    """``edgernn stream``'s options, typed (the click options below say what each means)."""

    model: str | None
    source: str | None
    key_field: str | None
    timestamp_field: str
    fmt: str
    limit: int | None
    rejects: str | None
    threshold: float | None
    provider: str
    threads: int
    max_delay_ms: float
    max_batch: int
    state_dir: str | None
    checkpoint_every: int
    summary_path: str | None
    quiet: bool
    max_keys: int | None
    gap_limit: float | None
    gap: str
    idle_s: float | None
    status_every: float
    sink_spec: str | None = None
    mqtt_key_level: int | None = None
    client_id: str | None = None
    csv_header: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    cuda_graph: bool = False
    drift_threshold: float | None = None
    ignore: str | None = None

    def live(self, notify: Callable[[str], None] | None, stop: threading.Event) -> LiveOptions:
        """What live sources and sinks need of these options."""
        return LiveOptions(
            self.key_field, self.mqtt_key_level, self.client_id, self.csv_header,
            self.tls_ca, self.tls_cert, self.tls_key, notify=notify, stop=stop,
        )  # fmt: skip

    def runner(self) -> RunnerConfig:
        """The stream runner's settings."""
        return RunnerConfig(
            self.key_field, self.timestamp_field, self.threshold, self.max_batch,
            self.max_delay_ms, Path(self.state_dir) if self.state_dir else None,
            self.checkpoint_every, idle_s=self.idle_s, max_keys=self.max_keys,
            gap_limit=self.gap_limit, gap_policy=self.gap, drift_threshold=self.drift_threshold,
            ignore=tuple(f.strip() for f in (self.ignore or "").split(",") if f.strip()),
        )  # fmt: skip


@click.command("stream")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--source",
    "-s",
    default=None,
    metavar="SRC",
    help="'demo' (built-in sensor feed), '-' (stdin), a CSV/JSONL file, or a live feed: "
    "mqtt://[user:pass@]host:port/topic/filter/# (percent-encoding accepted in user:pass), "
    "serial:///dev/ttyUSB0?baud=115200, udp://host:port. "
    "Default: stdin when data is piped or redirected in, else demo.",
)
@click.option(
    "--sink",
    "sink_spec",
    default=None,
    metavar="DST",
    help="Where outputs go: stdout (default, or '-'), a file (JSONL, appended), "
    "or mqtt://host:port/prefix (JSON to prefix/<key>, QoS 1; a broker outage "
    "delays outputs, and blocks the stream once 10000 wait).",
)
@click.option(
    "--mqtt-key-level",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="MQTT: the key is topic level N (0-based; sensors/<id>/data -> 1), stored under --key.",
)
@click.option(
    "--client-id",
    default=None,
    metavar="ID",
    help="MQTT: client id of the persistent session (default: stable per broker and topic).",
)
@click.option(
    "--csv-header",
    default=None,
    metavar="A,B,..",
    help="Live feeds: column names of CSV payloads (MQTT CSV needs it).",
)
@click.option(
    "--tls-ca",
    type=click.Path(dir_okay=False),
    default=None,
    help="MQTT TLS: CA certificates (PEM).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False),
    default=None,
    help="MQTT TLS: client certificate (PEM).",
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False), default=None, help="MQTT TLS: client key (PEM)."
)
@click.option(
    "--key",
    "key_field",
    default=None,
    metavar="FIELD",
    help="Field naming the series; each key keeps its own state.",
)
@click.option(
    "--timestamp",
    "timestamp_field",
    default="timestamp",
    show_default=True,
    metavar="FIELD",
    help="Optional field with each record's time, passed through to the output. Per key it must "
    "increase: a repeat of a recent record is skipped as a duplicate, an older one is rejected; "
    "it also skips replays when resuming from --state-dir and measures --gap-limit.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto looks at the first line.",
)
@click.option(
    "--limit", type=click.IntRange(min=0), default=None, help="Stop after N input records."
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Append rejected records (JSONL, with the reason) to this file.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Anomaly |z| threshold (default: the model's).",
)
@click.option(
    "--ignore",
    metavar="FIELD,...",
    default=None,
    help="Fields records may carry that the model does not read (e.g. battery,rssi): accepted "
    "and left out, instead of rejecting the record.",
)
@click.option(
    "--drift-threshold",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="LAMBDA",
    help="Drift/ramp test threshold: the Page-Hinkley sum of standardised residuals that flags a "
    f"sustained shift ('detector': 'drift'). Default {DRIFT_THRESHOLD:g} (about one alarm per "
    "5000 steps on steady data); higher: fewer alarms, later; 'inf': off.",
)
@provider_option(
    "auto",
    help="auto: CUDA when it really runs, else CPU; cuda/tensorrt: an error when they cannot run.",
)
@click.option(
    "--cuda-graph",
    is_flag=True,
    help="CUDA graphs: each fixed-shape step replays one captured launch (CUDA only).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="ONNX Runtime intra-op threads.",
)
@click.option(
    "--max-delay-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="How long a record may wait for other keys to share its graph call.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Most keys in one graph call.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep every key's state here: resume from it, checkpoint to it (atomically).",
)
@click.option(
    "--max-keys",
    type=click.IntRange(min=1),
    default=None,
    help="Reject records of new keys beyond this many (bounded memory).",
)
@click.option(
    "--gap-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="A key's timestamp gap longer than this (seconds for ISO timestamps) is a gap.",
)
@click.option(
    "--gap",
    type=click.Choice(["carry", "reset"]),
    default="carry",
    show_default=True,
    help="On a gap: carry the state on, or start the key's stream over.",
)
@click.option(
    "--idle-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Spill a key's state after this many seconds without records (restored when it returns).",
)
@click.option(
    "--status-every",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds between status lines on stderr when it is not a terminal (0: none). "
    "Connection losses and reconnections are noted as they happen (not with --quiet).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Checkpoint after this many steps (also every 5 s and at the end).",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the final summary as JSON to this file.",
)
@click.option("--quiet", "-q", is_flag=True, help="No summary or notes on stderr.")
def command(**params: Any) -> None:
    """Stream records through MODEL (default: the shipped sensor forecaster).

    Prints one JSON object per good record on stdout (key, step, forecast, anomaly_score,
    anomaly, and when anomaly is true the detector that fired: "residual" for one surprising
    value, "drift" for a sustained shift or ramp) and a summary on stderr. Bad records are
    counted and skipped. SIGTERM ends the stream cleanly (summary, checkpoint, sinks flushed;
    exit 0); Ctrl-C too, with exit 130.
    """
    opts = StreamOptions(**params)
    terminal = is_terminal(sys.stderr)
    every = None if opts.quiet else (2.0 if terminal else opts.status_every or None)
    status = Status(every, in_place=terminal, quiet=opts.quiet)
    stop = threading.Event()
    with Signals(stop) as signals:
        try:
            summary = run(opts, status, signals, stop)
        except KeyboardInterrupt:  # before the stream ran (loading, connecting), or a second signal
            if signals.received != signal.SIGTERM:
                say(opts.quiet, "interrupted")
                sys.exit(130)
            say(opts.quiet, "stopped (SIGTERM)")
            return
    finish(opts, summary, signals.received)


def finish(opts: StreamOptions, summary: dict[str, Any], received: int | None) -> None:
    """The summary line, how the run was stopped, and the exit code (130 after Ctrl-C)."""
    say(opts.quiet, summary_line(summary))
    if received:
        behind = summary["state_behind"]
        saved = f"; state saved in {opts.state_dir}" if opts.state_dir and not behind else ""
        stopped = "stopped (SIGTERM)" if received == signal.SIGTERM else "interrupted"
        say(opts.quiet, stopped + saved)
    if summary.get("sink_undelivered"):
        raise DataError(
            f"{summary['sink_undelivered']} output(s) were never confirmed by the MQTT broker "
            f"({summary['sink']}) and may be lost; check the broker"
        )
    if received == signal.SIGINT:  # the shell's convention for Ctrl-C; SIGTERM is a normal stop
        sys.exit(130)


def run(
    opts: StreamOptions, status: Status, signals: Signals, stop: threading.Event
) -> dict[str, Any]:
    """Open model, sinks and source, run the stream, return the summary."""
    with warnings.catch_warnings():  # a GPU session's CPU fallback is in the summary instead
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(
            opts.model, opts.provider, intra_op_threads=opts.threads, cuda_graph=opts.cuda_graph
        )
    _check_task(m)
    live = opts.live(notify=None if opts.quiet else status.note, stop=stop)
    with ExitStack() as stack:
        rejects_file = (
            stack.enter_context(open(opts.rejects, "a", encoding="utf-8")) if opts.rejects else None
        )
        sink = open_sink(opts.sink_spec, stack, live)
        items, fmt = _items(opts.source, opts.fmt, opts.limit, stack, live)
        reject = Rejects(rejects_file, opts.rejects, status)
        source = items if isinstance(items, LiveSource) else None
        durable = source if source is not None and opts.state_dir is not None else None
        if durable is not None:  # MQTT acks a message once a checkpoint covers it
            durable.hold_acks()
        runner = StreamRunner(
            m, opts.runner(), emit=sink.emit, reject=reject, sync=sink.flush,
            done=source.done if source is not None else None,  # MQTT acks when done
            idle=None if sink.live else sink.flush,  # stdout or a file: out of the buffer
            checkpointed=durable.checkpointed if durable is not None else None,
            held=durable.held if durable is not None else None,
            notice=status.note,  # an old state directory migrated to SQLite
        )  # fmt: skip
        signals.runner = runner
        status.start(describe(runner, source, sink))
        try:
            stats = runner.run(items, fmt=fmt, limit=opts.limit)
        except KeyboardInterrupt:  # a signal while waiting for input: the run's checkpoint is done
            stats = runner.stats
        finally:
            status.stop()
        reject.explain(stats)
        if not (stats.steps or stats.rejected or stats.duplicates or stats.replayed):
            where = "stdin" if opts.source in (None, "-") else opts.source
            status.note(f"note: no records arrived from {where}; the input was empty")
        undelivered = sink.close()
        if runner.behind and not undelivered:  # the sink got everything out after all: save now
            runner.checkpoint()
    result = summary(m, runner, stats, source, sink, undelivered)
    if opts.summary_path:
        with open(opts.summary_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


def _check_task(m: Any) -> None:
    require(m, "forecast", "edgernn stream")
    if not m.signature.causal:
        raise UsageError(
            f"edgernn stream steps causal models; {m.path.name} is a window model (window "
            f"{m.signature.window}, "
            "not steppable): run it from Python with model.window_stream()"
        )


def _items(
    source: str | None,
    fmt: str,
    limit: int | None,
    stack: ExitStack,
    live: LiveOptions | None = None,
) -> tuple[Iterable[Item], str]:
    """The records of ``source`` and the format to read them in: the demo feed, stdin, a file
    or a live feed (no source: stdin when data is piped in, else the demo)."""
    if source is None:
        source = "-" if piped_stdin() else "demo"
    if is_live(source):
        return open_items(source, fmt, live or LiveOptions(), stack)
    if source == "demo":
        return demo_records(limit) if limit else demo_records(), "auto"
    if source != "-":
        check_spec(source, "--source", EXAMPLES)  # a mistyped URL is not a file name
        if redact(source) != source and not Path(source).is_file():
            raise DataError(
                f"source {redact(source)!r} is not a file; pass a CSV/JSONL path, '-' for stdin, "
                "or 'demo'"
            )
    handle = open_source(source)
    if handle is not sys.stdin:
        stack.enter_context(handle)
    return text_lines(handle), fmt
