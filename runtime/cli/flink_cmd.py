"""``edgernn flink run`` and ``edgernn flink template``: the stream on Apache Flink.

``run`` builds the job (``edgernn.flink.job``) and runs it on a local mini-cluster in this
process; ``template`` writes an editable job for ``flink run -py`` on a real cluster. PyFlink
is imported only when a job runs, so without the ``flink`` extra these commands say what to
install (exit 2) and the rest of the CLI never loads it.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import click

from edgernn.core.model import load
from edgernn.errors import EdgernnError, StateError, UsageError
from edgernn.flink import pyflink_missing
from edgernn.flink.config import BACKENDS, ON_MODEL_CHANGE, OPERATORS, FlinkConfig


class JobError(EdgernnError):
    """The Flink job failed (its restarts spent): exit 1 with the cause."""


@click.group("flink")
def command() -> None:
    """Run the stream on Apache Flink: keyed state, checkpoints, many machines."""


@command.command("run")
@click.argument("model", required=False)
@click.option(
    "--source", required=True, help="file:///dir/ (JSONL/CSV files) or kafka://host:port/topic."
)
@click.option("--sink", required=True, help="file:///dir/ (part files) or kafka://host:port/topic.")
@click.option(
    "--key", "key_field", required=True, help="Field naming the series (one state per key)."
)
@click.option(
    "--rejects",
    help="Where bad records go, with the reason [default: beside the sink, '<sink>-rejects'].",
)
@click.option(
    "--operator",
    type=click.Choice(OPERATORS),
    default="shard",
    show_default=True,
    help="shard: many keys per model call (throughput); per-key: one call per record (latency).",
)
@click.option("--parallelism", "-p", type=int, default=1, show_default=True, help="Parallel tasks.")
@click.option(
    "--shards", type=int, default=32, show_default=True, help="Shard keys (shard operator)."
)
@click.option(
    "--flush-count",
    type=int,
    default=512,
    show_default=True,
    help="A shard steps its buffer at this many records...",
)
@click.option(
    "--flush-ms",
    type=int,
    default=200,
    show_default=True,
    help="...or when its oldest record has waited this long.",
)
@click.option(
    "--cache-keys",
    type=int,
    default=100_000,
    show_default=True,
    help="Keys a task keeps decoded in memory (their state is in Flink's either way).",
)
@click.option("--bounded", is_flag=True, help="Read the files present, then end (backfills).")
@click.option(
    "--monitor-ms",
    type=int,
    default=1000,
    show_default=True,
    help="How often an unbounded file source looks for new files.",
)
@click.option("--checkpoint-dir", help="file:///ckpt (also savepoints) [default: a temporary dir].")
@click.option(
    "--checkpoint-ms", type=int, default=1000, show_default=True, help="Checkpoint interval."
)
@click.option(
    "--state-backend",
    type=click.Choice(BACKENDS),
    default="hashmap",
    show_default=True,
    help="rocksdb for state larger than memory.",
)
@click.option(
    "--restarts", type=int, default=3, show_default=True, help="Restart attempts after a failure."
)
@click.option(
    "--restore", help="A savepoint or retained checkpoint to resume from (any --parallelism)."
)
@click.option(
    "--on-model-change",
    type=click.Choice(ON_MODEL_CHANGE),
    default="refuse",
    show_default=True,
    help="State written with another model: refuse to start, or reset those keys.",
)
@click.option("--csv-header", help="CSV input: its header (lines equal to it are skipped).")
@click.option(
    "--timestamp",
    "timestamp_field",
    default="timestamp",
    show_default=True,
    help="Field passed through that orders each key's records.",
)
@click.option("--ignore", help="Fields records may carry that the model does not read (a,b).")
@click.option("--threshold", type=float, help="Anomaly |z| threshold [default: the model's].")
@click.option("--drift-threshold", type=float, help="The drift test's lambda (inf: off).")
@click.option(
    "--jar",
    "jars",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Extra jar, e.g. the Kafka connector flink-sql-connector-kafka-5.0.0-2.2.jar.",
)
@click.option("--group-id", default="edgernn", show_default=True, help="Kafka consumer group.")
@click.option(
    "--conf",
    "conf",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other Flink setting, as config.yaml names it (repeatable).",
)
def run_command(
    model: str | None, jars: tuple[str, ...], ignore: str | None, conf: tuple[str, ...], **opts: Any
) -> None:
    """Run MODEL's stream as a Flink job on a local mini-cluster (outputs as `edgernn stream`).

    Unbounded, it runs until Ctrl-C or SIGTERM, then stops with a savepoint and says how to
    resume it (at any --parallelism).
    """
    cfg = FlinkConfig(
        model=model or "",
        jars=tuple(Path(j).resolve().as_uri() for j in jars),
        ignore=tuple(f.strip() for f in (ignore or "").split(",") if f.strip()),
        options=dict(_pair(c) for c in conf),
        **opts,
    ).check()
    load(cfg.model or None, provider="cpu")  # a bad model is one line now, not after Flink starts
    _need_pyflink()
    from edgernn.flink import job

    started = time.monotonic()
    try:
        if cfg.bounded:
            job.run(cfg)
            click.echo(
                f"done in {time.monotonic() - started:.1f} s; forecasts in {cfg.sink}, "
                f"rejects in {cfg.rejects_spec()}",
                err=True,
            )
            return
        client = job.start(cfg)
        click.echo(
            f"running (Ctrl-C or SIGTERM stops it with a savepoint); forecasts in {cfg.sink}",
            err=True,
        )
        _wait_then_savepoint(client, cfg)
    except EdgernnError:
        raise
    except Exception as e:  # a Py4J error carrying the job's failure
        if "Cannot map checkpoint/savepoint state" in str(e):
            raise StateError(
                f"{cfg.restore} holds state this job cannot take (written with another model, "
                "or another --operator); resume with the model and operator that wrote it, or "
                "pass --on-model-change reset to start every key fresh"
            ) from None
        raise JobError(f"the Flink job failed: {failure(e)}") from None


@command.command("template")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def template_command(path: str, force: bool) -> None:
    """Write an editable job for `flink run -py PATH` (Kafka in and out)."""
    from edgernn.flink.template import KAFKA_JAR, KAFKA_URL, TEMPLATE

    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{path!r} exists; pass --force to overwrite it, or name another file")
    target.write_text(TEMPLATE, encoding="utf-8")
    click.echo(f"wrote {path}; it needs the Kafka connector {KAFKA_JAR} ({KAFKA_URL})", err=True)


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(
            f"--conf {text!r} is not KEY=VALUE; e.g. --conf state.backend.type=rocksdb"
        )
    return key.strip(), value.strip()


def _need_pyflink() -> None:
    missing = pyflink_missing()
    if missing == "pyflink":
        raise UsageError(
            "this command needs the flink extra (pyflink is missing); pip install 'edgernn[flink]'"
        )
    if missing == "java":
        raise UsageError(
            "Flink needs Java 17 on PATH (java not found); install a JDK 17, "
            "e.g. openjdk-17-jre-headless"
        )


def _wait_then_savepoint(client: Any, cfg: FlinkConfig) -> None:
    """Block until the job ends; on Ctrl-C or SIGTERM stop it with a savepoint. The signals
    only set a flag: raising inside a Py4J call would leave the gateway half way."""
    from edgernn.flink import job

    stop = threading.Event()
    handler = lambda signum, frame: stop.set()  # noqa: E731
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            status = client.get_job_status().result().name
            if status in ("FINISHED", "FAILED", "CANCELED"):
                if status == "FAILED":
                    client.get_job_execution_result().result()  # raises with the cause
                return
        path = job.stop_with_savepoint(client, cfg)
        click.echo(f"stopped with a savepoint: {path}; resume with --restore {path}", err=True)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def failure(e: BaseException) -> str:
    """The one line that says why a job failed: edgernn's own error when it raised one, else
    the root cause's first line.

    >>> failure(RuntimeError("...\\nedgernn.errors.StateError: snapshot is corrupt\\n..."))
    'snapshot is corrupt'
    """
    text = str(e)
    found = re.findall(r"edgernn\.errors\.\w+: ([^\n]+)", text)
    if found:
        return str(found[-1]).strip()
    causes = re.findall(r"Caused by: ([^\n]+)", text)
    line = causes[-1] if causes else text.strip().splitlines()[0] if text.strip() else repr(e)
    return str(line)[:300]
