"""Training a music model, and the ``edgernn train music`` command.

The scores' melodies (``edgernn.train.music.corpus``) are split by piece into training and
held-out pieces; the training pieces and their transposed copies become one event sequence,
each piece after ``<bos>``. The model is the char LM's (``CharLM``: embedding, stacked LSTM,
linear head) trained by the shared step loop (``edgernn.train.loop.train_steps``) on random
windows of that sequence, the cross-entropy of every next event. After export, the runtime
scores the held-out pieces with the graph and generates pieces for the statistics
(``edgernn.train.music.evaluate``); report.json holds both, next to the n-gram baselines.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgernn.train.charlm.corpus import windows
from edgernn.train.loop import LoopConfig, train_steps
from edgernn.train.music.config import MusicConfig
from edgernn.train.music.corpus import encode, read_scores, split, transposed, vocabulary
from edgernn.train.music.evaluate import generated_stats, heldout_ids, heldout_nll, ngram_baselines
from edgernn.train.music.export import KIND, TASK, export_music
from edgernn.train.music.model import EventLM
from edgernn.train.progress import show_start, start_line
from edgernn.train.publish import publish


def run_music(
    *,
    data: str,
    arch: str,
    hidden: tuple[int, ...],
    embed: int,
    window: int,
    transpose: int,
    steps: int,
    val: float,
    batch_size: int,
    lr: float,
    seed: int,
    out: Path,
    no_export: bool,
    quiet: bool,
) -> dict:
    """Read the scores, train, save OUT/checkpoint.pt, export OUT/model.onnx and evaluate it
    with the runtime (unless ``no_export``), write OUT/report.json; the report."""
    config = MusicConfig(
        data=data,
        arch=arch,
        hidden=hidden,
        embed=embed,
        window=window,
        transpose=transpose,
        steps=steps,
        val_frac=val,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        quiet=quiet,
    )
    t0 = time.perf_counter()
    scores = read_scores(data)
    read_seconds = time.perf_counter() - t0
    train_pieces, held = split(scores.pieces, config.val_frac, seed)
    augmented = transposed(train_pieces, config.transpose)
    vocab = vocabulary(augmented, config.max_vocab)
    ids = encode(augmented, vocab)  # (N,)
    config.vocab_size = len(vocab)
    if len(ids) < config.window + 2:
        config.window = max(2, len(ids) - 2)  # a tiny corpus: windows as long as it allows
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = EventLM(config)
    show_start(
        start_line(
            "music",
            model,
            rows=sum(len(p.notes) for p in scores.pieces),
            rows_unit="events",
            series=len(scores.pieces),
            series_unit="scores",
            examples=len(ids),
            examples_unit=f"events with {config.transpose * 2} transpositions (windows of "
            f"{config.window})",
            arch=f"{config.arch} " + ",".join(map(str, config.hidden)),
            plan=f"{config.steps:,} steps of {config.batch_size} windows",
        ),
        quiet,
    )

    def batch_loss() -> torch.Tensor:  # nats per event
        x, y = windows(ids, config.batch_size, config.window, rng)  # (B, W) each
        return nn.functional.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())

    loop = LoopConfig(lr=config.lr, clip=config.clip, steps=config.steps, desc="music", quiet=quiet)
    history = train_steps(model, loop, batch_loss)
    model.eval()
    uni, bi = ngram_baselines(ids, heldout_ids(held, vocab), len(vocab))
    data_facts = {
        "source": scores.source,
        "scores": len(scores.pieces),
        "skipped_corrupt": len(scores.corrupt),
        "skipped_empty": len(scores.empty),
        "parsed": scores.parsed,
        "from_cache": len(scores.pieces) + len(scores.corrupt) + len(scores.empty) - scores.parsed,
        "read_seconds": round(read_seconds, 1),
        "train_pieces": len(train_pieces),
        "heldout_pieces": [p.name for p in held],
        "train_events": int(len(ids)),
        "transpositions": f"+-1..{config.transpose} semitones (training pieces only)",
        "encoding": "top voice; one token per note or rest: 'pitch:quarters' / 'r:quarters'",
    }
    metrics = {
        "train_loss": history.smoothed_loss,
        "seconds": round(history.seconds, 1),
        "steps": config.steps,
    }
    fields = {
        "task": TASK,
        "arch": config.arch,
        "layers": list(config.hidden),
        "window": config.window,
        "tokenizer": {"kind": "word", "vocab": list(vocab), "unk": vocab[0]},
        "provenance": {
            "data": {k: v for k, v in data_facts.items() if k != "heldout_pieces"},
            "metrics": metrics,
            "model": {"embed": config.embed, "hidden": list(config.hidden)},
        },
    }
    report: dict = {
        "task": TASK,
        "arch": config.arch,
        "layers": list(config.hidden),
        "data": data_facts,
        "skipped": scores.corrupt + [f"{name}: no notes" for name in scores.empty],
        "vocab_size": len(vocab),
        "metrics": metrics,
        "heldout": None,  # set after export: the exported graph over the held-out pieces
        "baselines": {"unigram": uni, "bigram": bi},
        "music": None,  # set after export: statistics of generated pieces
        "config": config.to_dict(),
    }

    def export(onnx: Path) -> tuple[dict, dict]:
        parity = export_music(model, fields, onnx).parity
        report["heldout"] = heldout_nll(onnx, held)
        report["music"] = generated_stats(
            onnx, train_pieces, held, config.eval_pieces, config.eval_events, seed
        )
        return {"onnx": str(onnx)}, {"parity": parity}

    return publish(Path(out), KIND, model, fields, report, None if no_export else export)
