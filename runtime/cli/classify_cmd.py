"""``edgernn classify``: running class probabilities from a ``classify`` model, for text or sensor
records.
"""

from __future__ import annotations

import json
import sys

import click

from edgernn.cli.common import json_option, provider_option
from edgernn.core.model import load
from edgernn.errors import RecordError, UsageError
from edgernn.feeds.files import open_source, text_lines
from edgernn.feeds.keys import key_value
from edgernn.feeds.records import CsvRows, RecordParser, sniff_format
from edgernn.tasks.classify import ClassifierStream


def _fmt(probs: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1]))


def _round(probs: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in probs.items()}


@click.command("classify")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--text", help="Text to classify (text models).")
@click.option(
    "--source",
    help="Text models: a file with one text per line ('-' for stdin). "
    "Sensor models: CSV/JSONL records.",
)
@click.option(
    "--seq-id",
    "seq_id",
    help="Sensor records: field naming the sequence; a new value starts a fresh state.",
)
@click.option(
    "--end-marker",
    "end_marker",
    metavar="LINE",
    help="Sensor records: a line equal to LINE ends the current sequence (its final label is "
    "printed and the next record starts a fresh state).",
)
@click.option(
    "--ignore",
    help="Sensor records: other fields to pass through, comma-separated (e.g. a label column).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
)
@json_option("Text models: print JSON instead of a line of text.")
@click.option(
    "--every-step",
    is_flag=True,
    help="Text models: one JSON line per token with the running probabilities.",
)
@provider_option()
def command(
    model: str,
    text: str | None,
    source: str | None,
    seq_id: str | None,
    end_marker: str | None,
    ignore: str | None,
    fmt: str,
    as_json: bool,
    every_step: bool,
    provider: str,
) -> None:
    """Classify text or sensor sequences with a model from `edgernn train classify`.

    Text models print the final label and class probabilities (JSON with --json; with
    --every-step one JSON line per token). Sensor models read records from --source (or stdin)
    and print one JSON line per record with the running probabilities; when a sequence ends
    (the --seq-id value changes, a line equal to --end-marker, or the end of the input) one more
    line gives its final label: {"seq_id", "final", "steps", "probabilities"}, and the next
    record starts a fresh state.
    """

    stream = ClassifierStream(load(model, provider=provider))
    if stream.is_text:
        if (text is None) == (source is None):
            raise UsageError(
                "give exactly one of --text TEXT or --source FILE|- (one text per line)"
            )
        if text is not None:
            _text(stream, text, as_json, every_step)
        else:
            for _, line in text_lines(open_source(source or "-")):
                _text(stream, line, as_json, every_step)
        return
    if text is not None:
        raise UsageError(
            f"{stream.model.path.name} classifies sensor records, not text; pass --source FILE|- "
            "with "
            f"the fields {', '.join(stream.model.signature.features)}"
        )
    ignored = tuple(x for x in (ignore or "").split(",") if x)
    _records(stream, source or "-", seq_id, ignored, fmt, end_marker)


def _text(stream: ClassifierStream, text: str, as_json: bool, every_step: bool) -> None:
    running, label = stream.classify_text(text)
    final = running[-1][1]
    if every_step:
        for i, (tok, probs) in enumerate(running, start=1):
            click.echo(
                json.dumps(
                    {
                        "step": i,
                        "token": tok,
                        "label": max(probs, key=probs.__getitem__),
                        "probabilities": _round(probs),
                    }
                )
            )
    if as_json or every_step:
        click.echo(
            json.dumps(
                {
                    "text": text,
                    "label": label,
                    "probabilities": _round(final),
                    "tokens": len(running),
                    "unknown_tokens": stream.unknown,
                }
            )
        )
    else:
        note = f"  ({stream.unknown} unknown token(s))" if stream.unknown else ""
        click.echo(f"{label}\t{_fmt(final)}{note}")


def _final(stream: ClassifierStream, key: str | None, probs: dict[str, float] | None) -> None:
    """The line that closes a sequence: its final label after all its steps."""
    if probs is None:
        return
    out = {
        "seq_id": key,
        "final": max(probs, key=probs.__getitem__),
        "steps": stream.steps_seen,
        "probabilities": _round(probs),
    }
    if key is None:
        out.pop("seq_id")
    click.echo(json.dumps(out))


def _records(
    stream: ClassifierStream,
    source: str,
    seq_id: str | None,
    ignore: tuple[str, ...],
    fmt: str,
    end_marker: str | None = None,
) -> None:
    """One JSON line per record (running probabilities), and a final line per sequence."""
    sig = stream.model.signature
    parser = RecordParser(sig.features, key_field=seq_id, extra_allowed=ignore)
    lines = text_lines(open_source(source))
    csv_rows, current, first, good, bad = None, None, True, 0, 0
    probs: dict[str, float] | None = None  # the open sequence's latest probabilities
    marker = end_marker.strip() if end_marker is not None else None
    for n, line in lines:
        if marker is not None and line.strip() == marker:
            _final(stream, current, probs)
            probs = None
            continue
        if first:
            first = False
            kind = sniff_format(line) if fmt == "auto" else fmt
            if kind == "csv":
                csv_rows = CsvRows(line, parser)
                continue
        try:
            record = csv_rows.parse(line) if csv_rows else parser.parse_json(line)
        except RecordError as e:
            bad += 1
            click.echo(f"line {n}: skipped ({e})", err=True)
            continue
        if record.key != current or probs is None:
            _final(stream, current, probs)
            stream.reset()
            current = record.key
        probs = stream.step(record.values)
        good += 1
        out = {
            "seq_id": None if record.key is None else key_value(record.key),
            "step": stream.steps_seen,
            "label": max(probs, key=probs.__getitem__),
            "probabilities": _round(probs),
        }
        if seq_id is None:
            out.pop("seq_id")
        click.echo(json.dumps(out))
    _final(stream, current, probs)
    click.echo(f"{good} records classified, {bad} rejected", err=True)
    sys.stdout.flush()
