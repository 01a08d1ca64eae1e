"""``edgernn train charlm`` and ``edgernn train seq2seq``: the token models' training commands,
added to the ``edgernn train`` group by the cli (PyTorch is imported inside each, when it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import train_output_options


@click.command("charlm")
@click.option(
    "--corpus",
    default="pydoc",
    show_default=True,
    help="'pydoc' (Python's documentation text, offline) or a UTF-8 text file.",
)
@click.option(
    "--hidden", default="192,192", show_default=True, help="LSTM hidden size per stacked layer."
)
@click.option("--embed", default=64, show_default=True, help="Character embedding width.")
@click.option("--window", default=64, show_default=True, help="Characters per training window.")
@click.option(
    "--vocab-size",
    default=96,
    show_default=True,
    help="Most frequent training characters kept; the rest map to <unk>.",
)
@click.option("--steps", default=3500, show_default=True, help="Optimizer steps.")
@click.option(
    "--epochs",
    type=float,
    help="Instead of --steps: passes over the training text (steps = epochs * chars / (batch * "
    "window)).",
)
@click.option(
    "--val",
    type=float,
    default=0.1,
    show_default=True,
    help="Share of the text held out: its contiguous tail, never trained on, scored at the end.",
)
@click.option("--batch-size", default=32, show_default=True, help="Windows per optimizer step.")
@click.option(
    "--lr", default=2e-3, show_default=True, help="Adam learning rate (cosine-decayed to 10%)."
)
@click.option("--seed", default=0, show_default=True, help="Seed for numpy and torch.")
@train_output_options("runs/charlm")
def charlm(**opts: Any) -> None:
    """Train a character-level LSTM language model (for `edgernn generate`).

    Trains on all but the text's last --val share. Writes OUT/checkpoint.pt, OUT/report.json,
    OUT/model.onnx and OUT/heldout.txt (the held-out tail), and reports the held-out bits per
    character as `edgernn score OUT/model.onnx OUT/heldout.txt` computes them: the exported
    graph streamed over the whole tail from a fresh state (report.json "heldout"). The val loss
    next to it is a quick PyTorch estimate on random windows of the tail.
    """
    from edgernn.train.options import parse_hidden
    from edgernn.train.registry import TASKS

    as_json = opts.pop("as_json")
    report = TASKS["generate"].run(
        hidden=parse_hidden(opts.pop("hidden")), out=Path(opts.pop("out")), **opts
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        m, h = report["metrics"], report["heldout"]
        if h is None:
            held = "held-out text not scored (--no-export)"
        else:
            unknown = (
                f", {h['unknown_chars']:,} outside the vocabulary" if h["unknown_chars"] else ""
            )
            held = (
                f"held-out {h['bits_per_char']:.3f} bits/char over {h['scored']:,} characters "
                f"(exported graph, streamed{unknown})"
            )
        click.echo(
            f"trained charlm lstm {','.join(map(str, report['layers']))} on {report['corpus']}: "
            f"{m['steps']} steps in {m['seconds']:.0f} s, {held}; val loss {m['val_loss']:.3f} "
            f"({m['val_bits_per_char']:.3f} bits/char) on {m['val_windows']} random windows"
        )
        click.echo(f"wrote {', '.join(report['files'].values())}")


@click.command("seq2seq")
@click.option(
    "--data",
    default="synth:reverse",
    show_default=True,
    help="synth:reverse (seeded digit strings of length 3-10 -> reversed) or a two-column CSV/TSV: "
    "source, target.",
)
@click.option(
    "--hidden", default=64, show_default=True, help="LSTM hidden size (encoder and decoder)."
)
@click.option("--embed", default=32, show_default=True, help="Character embedding width.")
@click.option(
    "--separate-embeddings",
    is_flag=True,
    help="Separate source and target embedding tables (default: shared).",
)
@click.option(
    "--pairs", default=2000, show_default=True, help="synth:reverse: pairs generated (train + val)."
)
@click.option("--steps", default=1500, show_default=True, help="Optimizer steps (teacher forcing).")
@click.option("--batch-size", default=64, show_default=True, help="Pairs per optimizer step.")
@click.option(
    "--lr", default=5e-3, show_default=True, help="Adam learning rate (cosine-decayed to 10%)."
)
@click.option("--seed", default=0, show_default=True, help="Seed for the data, numpy and torch.")
@train_output_options("runs/seq2seq", "Do not export OUT/model.onnx and OUT/model.encoder.onnx.")
def seq2seq(**opts: Any) -> None:
    """Train an encoder-decoder LSTM (for `edgernn generate MODEL --input TEXT`).

    Writes OUT/checkpoint.pt, OUT/report.json, OUT/model.onnx (decoder step graph) and
    OUT/model.encoder.onnx.
    """
    from edgernn.train.registry import TASKS

    as_json = opts.pop("as_json")
    report = TASKS["seq2seq"].run(out=Path(opts.pop("out")), **opts)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    m = report["metrics"]
    click.echo(
        f"trained seq2seq lstm {report['layers'][0]} on {report['data']}: {m['steps']} steps in "
        f"{m['seconds']:.0f} s, val loss {m['val_loss']:.3f}, "
        f"val exact match {m['val_exact_match']:.3f} (greedy)"
    )
    click.echo(f"wrote {', '.join(report['files'].values())}")
