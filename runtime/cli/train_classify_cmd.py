"""``edgernn train classify``: a sequence classifier (sensor windows, motion sequences or
text), added to the ``edgernn train`` group by the cli (PyTorch is imported inside, when it
runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import train_output_options


@click.command("classify")
@click.option(
    "--data",
    required=True,
    help="A CSV with a header, a UEA/UCR .ts file, a fastText file (__label__x text per line), "
    "synth:sensor-classes[?n=600&length=80&seed=0] (labelled sensor windows) or synth:docstrings "
    "(stdlib docstring paragraphs labelled by package).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "ts", "fasttext"]),
    default="auto",
    show_default=True,
    help="File format; auto: from the extension (.ts; .txt/.ft fastText; .csv).",
)
@click.option(
    "--encoding",
    help="Text encoding of the files. Default: a byte order mark, else UTF-8, else cp1252 "
    "(with a note).",
)
@click.option(
    "--test-data",
    "test_data",
    help="The official test file (same format), e.g. X_TEST.ts next to --data X_TRAIN.ts.",
)
@click.option(
    "--split-column",
    "split_column",
    help="CSV column saying train, val or test for each sequence, honoured exactly (no val: "
    "drawn from train).",
)
@click.option(
    "--folds",
    default=0,
    show_default=True,
    help="Stratified k-fold cross-validation (K >= 2): accuracy mean ± std and per fold.",
)
@click.option("--label", help="CSV column holding the class (one per sequence).")
@click.option("--text", help="Text CSV: the column holding the text (one sequence per row).")
@click.option(
    "--seq-id",
    "seq_id",
    help="Sensor CSV: the column naming the sequence (its rows, in file order).",
)
@click.option(
    "--features",
    help="Sensor CSV: input columns, comma-separated. Default: every column but --seq-id/--label.",
)
@click.option(
    "--tokenizer",
    type=click.Choice(["char", "word"]),
    default="word",
    show_default=True,
    help="Text: how text becomes tokens.",
)
@click.option(
    "--vocab-size",
    default=2000,
    show_default=True,
    help="Text: most frequent training tokens kept; the rest map to <unk>.",
)
@click.option(
    "--max-len",
    default=512,
    show_default=True,
    help="Steps (tokens or rows) kept per sequence; the rest is cut off.",
)
@click.option(
    "--arch",
    default="tcn",
    show_default=True,
    help="tcn (causal dilated convolutions, streamed with their receptive field as state), rnn, "
    "lstm or gru.",
)
@click.option(
    "--hidden",
    default=None,
    help="Width per stacked layer, e.g. 64,32. Default: 32,32,32,32,32,32 for tcn (receptive "
    "field 127 steps), 64 otherwise.",
)
@click.option(
    "--kernel", default=3, show_default=True, help="tcn: convolution width (layer i dilates 2**i)."
)
@click.option("--embed", default=32, show_default=True, help="Text: token embedding width.")
@click.option(
    "--attention/--no-attention",
    default=True,
    show_default=True,
    help="Attention pooling over the steps so far before the head (its online softmax streams as "
    "state).",
)
@click.option(
    "--max-pool/--no-max-pool",
    default=True,
    show_default=True,
    help="Max pooling over the steps so far before the head (the running maximum streams as "
    "state).",
)
@click.option(
    "--dropout", default=0.1, show_default=True, help="Dropout between layers and before the head."
)
@click.option(
    "--token-dropout",
    "token_dropout",
    default=0.2,
    show_default=True,
    help="Text: share of training tokens fed as <unk>, so a small set is not memorised.",
)
@click.option(
    "--epochs", default=150, show_default=True, help="Maximum epochs (early stopping decides)."
)
@click.option("--batch-size", default=16, show_default=True, help="Sequences per optimizer step.")
@click.option(
    "--lr", default=3e-3, show_default=True, help="Adam learning rate (halved on a plateau)."
)
@click.option("--clip", default=1.0, show_default=True, help="Max gradient norm (0 = off).")
@click.option(
    "--patience",
    default=20,
    show_default=True,
    help="Early stopping: epochs without a better val loss (0 = off).",
)
@click.option(
    "--lr-patience",
    "lr_patience",
    default=5,
    show_default=True,
    help="The lr halves after this many epochs without a better val loss.",
)
@click.option(
    "--refit/--no-refit",
    default=True,
    show_default=True,
    help="Under 2000 training sequences: retrain on train + val for the epochs early stopping "
    "chose.",
)
@click.option(
    "--members",
    type=click.IntRange(min=1),
    default=None,
    help="Networks trained apart (own seed and validation draw) whose probabilities are averaged; "
    "the graph holds them all. Default: 5 under 2000 training sequences, else 1.",
)
@click.option(
    "--val",
    "val_frac",
    default=0.2,
    show_default=True,
    help="Share of the training sequences (per class, at least one each) for validation.",
)
@click.option(
    "--test",
    "test_frac",
    default=0.15,
    show_default=True,
    help="Share of the sequences (per class) for the test report.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for the split, numpy and torch.")
@train_output_options("runs/classify")
def classify(**opts: Any) -> None:
    """Train a sequence classifier (sensor windows or text) that emits running class probabilities.

    Writes OUT/checkpoint.pt, OUT/report.json and OUT/model.onnx (for `edgernn classify`).
    """
    from edgernn.train.options import parse_hidden, parse_names
    from edgernn.train.registry import TASKS

    as_json = opts.pop("as_json")
    hidden = opts.pop("hidden")
    report = TASKS["classify"].run(
        hidden=parse_hidden(hidden) if hidden else None,
        features=parse_names(opts.pop("features"), "--features"),
        out=Path(opts.pop("out")),
        **opts,
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    t, b, tr = report["metrics"]["test"], report["baseline"]["majority"], report["training"]
    acc = "n/a" if t.get("accuracy") is None else f"{t['accuracy']:.3f}"
    base = "n/a" if b["test_accuracy"] is None else f"{b['test_accuracy']:.3f}"
    click.echo(
        f"trained {report['kind']} classifier {report['arch']} "
        f"{','.join(map(str, report['layers']))} on {report['data']['sequences']['train']} "
        f"sequences, {len(report['labels'])} classes: "
        + (
            f"{tr['epochs_run']} epochs, best {tr['best_epoch']}"
            if "members" not in tr
            else f"{len(tr['members'])} members averaged, epochs run / best "
            + ", ".join(f"{m['epochs_run']}/{m['best_epoch']}" for m in tr["members"])
        )
    )
    click.echo(f"test ({t['n']} sequences): accuracy {acc}   majority class {b['class']!r}: {base}")
    from edgernn.train.classify.report import summary_lines

    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"wrote {', '.join(v for v in report['files'].values() if v)}")
    for note in report.get("notes", []):
        click.echo(f"note: {note}")
