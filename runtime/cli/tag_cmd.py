"""``edgernn tag``: named entities in text, from a ``tag`` model; and ``edgernn train tag``,
added to the ``edgernn train`` group by the cli (PyTorch is imported inside it, when it runs).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import json_option, provider_option, train_output_options
from edgernn.core.model import load
from edgernn.errors import UsageError
from edgernn.feeds.files import open_source, text_lines
from edgernn.tasks.tag import Tagged, Tagger

BATCH = 256  # lines tagged together (sentences of one length share a graph call)


def _record(tagged: Tagged, line: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {} if line is None else {"line": line}
    return {**out, "text": tagged.text, **tagged.to_dict()}


@click.command("tag")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--text", help="One sentence to tag (else one sentence per line of --source).")
@click.option(
    "--source",
    default="-",
    show_default=True,
    help="A UTF-8 text file with one sentence per line ('-': stdin); blank lines are skipped.",
)
@click.option(
    "--lag",
    type=int,
    default=2,
    show_default=True,
    help="Streaming models: each token's tag is final this many tokens after it (0: at once).",
)
@json_option("--text: print JSON instead of the bracketed sentence (lines are always JSON).")
@click.option("--quiet", is_flag=True, help="No summary line on stderr.")
@provider_option()
def command(
    model: str, text: str | None, source: str, lag: int, as_json: bool, quiet: bool, provider: str
) -> None:
    """Tag named entities with a model from `edgernn train tag`.

    --text prints the sentence with each entity bracketed and typed ([Angela Merkel]PER visited
    [Paris]LOC), or JSON with --json. Without --text, each non-blank line of --source (stdin by
    default) is one sentence and gives one JSON line: its line number, text, tokens, IOB2 tags
    and entities (text, type, token and character offsets). Text is split on whitespace and
    punctuation (edgernn.tasks.tag.tokenize).
    """
    if lag < 0:
        raise UsageError(f"--lag must be 0 or more, got {lag}")
    tagger = Tagger(load(model, provider=provider), lag=lag)
    if text is not None:
        if source != "-":
            raise UsageError("give --text TEXT or --source FILE, not both")
        if not text.strip():
            raise UsageError("--text is empty; pass a sentence, e.g. --text 'Maria visited Paris'")
        tagged = tagger.tag_text(text)
        click.echo(json.dumps(_record(tagged)) if as_json else tagged.inline())
        return
    if source == "-" and sys.stdin.isatty():
        raise UsageError("pass --text TEXT, --source FILE, or pipe one sentence per line on stdin")
    t0, n, entities = time.perf_counter(), 0, 0
    pending: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal n, entities
        for (number, _), tagged in zip(pending, tagger.tag_texts([t for _, t in pending])):
            entities += len(tagged.entities)
            click.echo(json.dumps(_record(tagged, number)))
        n += len(pending)
        pending.clear()

    for item in text_lines(open_source(source)):
        pending.append(item)
        if len(pending) >= BATCH:
            flush()
    flush()
    sys.stdout.flush()
    if not quiet:
        seconds = time.perf_counter() - t0
        rate = f"; {n / seconds:,.0f} sentences/s" if n and seconds > 0 else ""
        empty = " (the input had no non-blank line)" if not n else ""
        click.echo(f"{n:,} sentences, {entities:,} entities{empty}{rate}", err=True)


@click.command("tag")
@click.option(
    "--data",
    required=True,
    help="Training sentences: a CoNLL file, 'cc0:ner' (the shipped hand-written file) or "
    "'synth:entities[:N]' (seeded synthetic sentences, 3000 by default).",
)
@click.option("--val", help="Validation CoNLL file (default: 10% of --data held out).")
@click.option("--test", help="Test CoNLL file (default: 10% of --data held out).")
@click.option(
    "--column",
    type=int,
    default=-1,
    show_default=True,
    help="The tag's column, 0-based (negative: from the end).",
)
@click.option("--token-column", default=0, show_default=True, help="The token's column, 0-based.")
@click.option(
    "--scheme",
    default="auto",
    show_default=True,
    help="Tag scheme of the files: auto, iob1, iob2 or iobes (all become IOB2).",
)
@click.option(
    "--streaming",
    is_flag=True,
    help="A forward-only LSTM-CRF that tags tokens as they arrive (fixed-lag decoding).",
)
@click.option("--hidden", default=64, show_default=True, help="LSTM hidden size per direction.")
@click.option("--embed", default=50, show_default=True, help="Word embedding width.")
@click.option("--char-filters", default=48, show_default=True, help="Character CNN width.")
@click.option("--epochs", default=20, show_default=True, help="Passes over the training data.")
@click.option(
    "--patience", default=5, show_default=True, help="Epochs without a better val F1 before stop."
)
@click.option("--batch-size", default=32, show_default=True, help="Sentences per step.")
@click.option("--lr", default=3e-3, show_default=True, help="Adam learning rate.")
@click.option(
    "--max-len",
    default=128,
    show_default=True,
    help="Tokens per graph call; longer sentences are tagged in overlapping windows.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the split, data and weights.")
@train_output_options("runs/tag")
def train(**opts: Any) -> None:
    """Train a named-entity tagger (for `edgernn tag`): a BiLSTM-CRF over words and characters.

    Keeps the epoch with the best validation entity F1, exports OUT/model.onnx (verified
    against PyTorch) and reports entity precision, recall and F1 per type and micro-averaged
    on the test sentences as `edgernn tag` tags them (report.json "metrics.test").
    """
    from edgernn.train.registry import TASKS

    as_json = opts.pop("as_json")
    report = TASKS["tag"].run(out=Path(opts.pop("out")), **opts)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    test = report["metrics"].get("test") or {}
    if test:
        kinds = ", ".join(f"{k} {v['f1']:.3f}" for k, v in test["per_type"].items())
        click.echo(
            f"test entity F1 {test['micro']['f1']:.3f} ({kinds}); token accuracy "
            f"{test['token_accuracy']:.3f}; {report['files']['report']}"
        )
    else:
        click.echo(f"no test sentences; {report['files']['report']}")
