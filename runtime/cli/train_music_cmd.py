"""``edgernn train music``: a melody model from real scores, added to the ``edgernn train``
group by the cli (PyTorch and music21 are imported inside, when it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import train_output_options
from edgernn.errors import UsageError


@click.command("music")
@click.option(
    "--data",
    default="corpus:bach",
    show_default=True,
    help="corpus:bach (music21's Bach chorales, offline), corpus:NAME, or a folder / file of "
    ".mid/.musicxml/.mxl scores.",
)
@click.option(
    "--arch",
    type=click.Choice(["lstm", "gru"]),
    default="gru",
    show_default=True,
    help="Recurrent layers.",
)
@click.option(
    "--hidden", default="128,128", show_default=True, help="Hidden size per stacked layer."
)
@click.option("--embed", default=32, show_default=True, help="Event embedding width.")
@click.option("--window", default=64, show_default=True, help="Events per training window.")
@click.option(
    "--transpose",
    default=5,
    show_default=True,
    help="Augmentation: training pieces also shifted by +-1..N semitones (0 = off).",
)
@click.option("--steps", default=1500, show_default=True, help="Optimizer steps.")
@click.option(
    "--val",
    type=float,
    default=0.1,
    show_default=True,
    help="Share of the pieces held out (whole pieces, never trained on, scored at the end).",
)
@click.option("--batch-size", default=32, show_default=True, help="Windows per optimizer step.")
@click.option(
    "--lr", default=3e-3, show_default=True, help="Adam learning rate (cosine-decayed to 10%)."
)
@click.option("--seed", default=0, show_default=True, help="Seed for the split, numpy and torch.")
@train_output_options("runs/music")
def music(**opts: Any) -> None:
    """Train a GRU or LSTM over note events of real scores (for `edgernn generate --midi`).

    Writes OUT/checkpoint.pt, OUT/model.onnx and OUT/report.json: held-out negative
    log-likelihood per event (exported graph, streamed by the runtime) next to unigram and
    bigram baselines, and statistics of generated pieces against the training music.
    """
    try:
        import music21  # noqa: F401
    except ImportError as e:
        raise UsageError(
            "edgernn train music reads scores with music21; pip install 'edgernn[train,music]'"
        ) from e
    from edgernn.train.options import parse_hidden
    from edgernn.train.registry import TASKS

    as_json = opts.pop("as_json")
    report = TASKS["music"].run(
        hidden=parse_hidden(opts.pop("hidden")), out=Path(opts.pop("out")), **opts
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(summary(report))
    click.echo(f"wrote {', '.join(report['files'].values())}")


def summary(report: dict[str, Any]) -> str:
    """The report in a few lines: data, held-out perplexity vs the baselines, statistics."""
    d, m, b = report["data"], report["metrics"], report["baselines"]
    skipped = d["skipped_corrupt"] + d["skipped_empty"]
    lines = [
        f"trained music {report['arch']} {','.join(map(str, report['layers']))} on {d['source']}: "
        f"{d['scores']} scores ({skipped} skipped), {m['steps']} steps in {m['seconds']:.0f} s"
    ]
    h = report["heldout"]
    if h is None:
        lines.append("held-out pieces not scored (--no-export)")
        return "\n".join(lines)
    lines.append(
        f"held-out: {h['nll']:.3f} nats/event, perplexity {h['perplexity']:.2f} over "
        f"{h['events']} events of {h['pieces']} pieces (bigram {b['bigram']['perplexity']:.2f}, "
        f"unigram {b['unigram']['perplexity']:.2f})"
    )
    g = report["music"]["generated_vs_training"]
    r = report["music"]["heldout_vs_training"]
    lines.append(
        f"generated vs training: pitch-class distance {g['pitch_class_distance']:.3f} "
        f"(held-out {r['pitch_class_distance']:.3f}), duration distance "
        f"{g['duration_distance']:.3f} (held-out {r['duration_distance']:.3f}), in key "
        f"{g['in_key']:.3f} (training {g['in_key_reference']:.3f}); "
        f"{report['music']['events_per_s']:.0f} events/s"
    )
    return "\n".join(lines)
