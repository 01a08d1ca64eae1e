"""Training a char LM, and the ``edgernn train charlm`` command.

Step mode of ``edgernn.train.loop``: seeded Adam on random windows of the training text, the
cross-entropy of every next character (nats per character); then the loss on random windows
of the held-out text (``val_loss``, a quick PyTorch estimate, also stored in the model).

The held-out figure that counts comes after export: ``edgernn.tasks.score.score_text`` streams
the exported graph over the whole held-out tail (from a fresh state, every character but the
first scored, out-of-vocabulary characters scored as <unk>), exactly what ``edgernn score
OUT/model.onnx OUT/heldout.txt`` prints. It is report.json's ``heldout``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

import edgernn
from edgernn.errors import DataError, UsageError
from edgernn.tasks.score import score_text
from edgernn.train.cells import native_kernels
from edgernn.train.charlm.corpus import UNK, Corpus, read_corpus, windows
from edgernn.train.charlm.export import export_charlm
from edgernn.train.charlm.model import CharLM, CharLMConfig
from edgernn.train.loop import LoopConfig, TrainResult, train_steps
from edgernn.train.progress import show_start, start_line
from edgernn.train.publish import publish

KIND = "charlm"  # checkpoint kind and train command (its task is "generate")


def evaluate(
    model: CharLM, ids: np.ndarray, config: CharLMConfig, rng: np.random.Generator
) -> float:
    """Mean cross-entropy (nats per character) over ``eval_windows`` random windows."""
    model.eval()
    losses = []
    with native_kernels(), torch.no_grad():
        for _ in range(max(1, config.eval_windows // config.batch_size)):
            x, y = windows(ids, config.batch_size, config.window, rng)  # (B, W) each
            logits = model(x)[0]  # (B, W, V)
            losses.append(float(nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())))
    return float(np.mean(losses))


def train_charlm(config: CharLMConfig) -> TrainResult:
    """Seeded Adam training on random windows; progress (tqdm) on stderr. ``data``: the
    Corpus."""
    text, source = read_corpus(config.corpus)
    corpus = Corpus.from_text(text, config.max_vocab, config.val_frac, source)
    if len(corpus.val) < config.window + 2:
        raise DataError(
            f"the held-out tail (--val {config.val_frac}) has {len(corpus.val)} characters, fewer "
            f"than --window {config.window} + 2; raise --val, lower --window or use a longer text"
        )
    config.vocab_size = len(corpus.vocab)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = CharLM(config)
    show_start(
        start_line(
            "charlm",
            model,
            rows=len(text),
            rows_unit="characters",
            examples=len(corpus.train),
            examples_unit=f"characters (windows of {config.window})",
            arch="lstm " + ",".join(map(str, config.hidden)),
            plan=f"{config.steps:,} steps of {config.batch_size} windows",
        ),
        config.quiet,
    )

    def batch_loss() -> torch.Tensor:  # nats per char
        x, y = windows(corpus.train, config.batch_size, config.window, rng)  # (B, W) each
        return nn.functional.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())

    loop = LoopConfig(
        lr=config.lr, clip=config.clip, steps=config.steps, desc="charlm", quiet=config.quiet
    )
    history = train_steps(model, loop, batch_loss)
    val = evaluate(model, corpus.val, config, np.random.default_rng(config.seed + 1))
    metrics = {
        "train_loss": history.smoothed_loss,
        "val_loss": val,
        "val_bits_per_char": val / math.log(2),
        "val_windows": max(1, config.eval_windows // config.batch_size) * config.batch_size,
        "seconds": round(history.seconds, 1),
        "steps": config.steps,
    }
    return TrainResult(model.eval(), history, metrics, corpus)


def signature_fields(
    model: CharLM,
    corpus_source: str,
    vocab: tuple[str, ...],
    metrics: dict,
    extra: dict | None = None,
) -> dict:
    """The training-time signature fields of a char LM (export adds states and parity)."""
    cfg = model.config
    return {
        "task": "generate",
        "arch": "lstm",
        "layers": list(cfg.hidden),
        "window": cfg.window,
        "tokenizer": {"kind": "char", "vocab": list(vocab), "unk": UNK},
        "provenance": {
            "data": {"corpus": corpus_source, "vocab_size": len(vocab), **(extra or {})},
            "metrics": metrics,
            "model": {"embed": cfg.embed, "hidden": list(cfg.hidden)},
        },
    }


def heldout_score(onnx: Path, corpus: Corpus) -> dict:
    """The exported graph streamed over the whole held-out tail by the runtime (what
    ``edgernn score`` does): bits per character and the counts behind it.

    >>> corpus = Corpus.from_text("The value is None.\\n" * 20, val_frac=0.1)
    >>> shipped = edgernn.default_model_path().with_name("char-lm.onnx")
    >>> h = heldout_score(shipped, corpus)
    >>> h["from_char"], h["chars"], h["scored"], h["bits_per_char"] < 2
    (342, 38, 37, True)
    """
    score = score_text(edgernn.load(onnx, provider="cpu"), corpus.val_text)
    return {
        "from_char": corpus.heldout_from,  # where the tail starts in the corpus text
        **score.to_dict(),
        "computed_by": "edgernn.tasks.score.score_text on the exported graph (`edgernn score`)",
    }


# ---- the `edgernn train charlm` command ----------------------------------------------------
def run_charlm(
    *,
    corpus: str,
    hidden: tuple[int, ...],
    embed: int,
    window: int,
    vocab_size: int,
    steps: int,
    epochs: float | None,
    val: float,
    batch_size: int,
    lr: float,
    seed: int,
    out: Path,
    no_export: bool,
    quiet: bool,
) -> dict:
    """Train on all but the text's last ``val`` share, save OUT/checkpoint.pt, export
    OUT/model.onnx and score the held-out tail (written to OUT/heldout.txt) with it (unless
    ``no_export``), write OUT/report.json; the report."""
    if epochs is not None:
        if epochs <= 0:
            raise UsageError(f"--epochs must be > 0, got {epochs}")
        text, _ = read_corpus(corpus)
        steps = max(1, round(epochs * len(text) * (1 - val) / (batch_size * window)))
    config = CharLMConfig(
        embed=embed,
        hidden=hidden,
        corpus=corpus,
        max_vocab=vocab_size,
        window=window,
        val_frac=val,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        quiet=quiet,
    )
    result = train_charlm(config)
    model, c = result.model, result.data
    chars = {"train": len(c.train), "val": len(c.val)}
    extra = {
        "chars": chars,
        "unknown_chars": c.unknown,
        "split": f"chronological: the last {val:g} held out",
    }
    fields = signature_fields(model, c.source, c.vocab, result.metrics, extra)
    report = {
        "task": "generate",
        "arch": "lstm",
        "layers": list(hidden),
        "corpus": c.source,
        "vocab_size": len(c.vocab),
        "chars": chars,
        "metrics": result.metrics,
        "heldout": None,  # set after export: the exported graph streamed over the held-out tail
        "config": config.to_dict(),
    }

    def export(onnx: Path) -> tuple[dict, dict]:
        parity = export_charlm(model, fields, onnx).parity
        tail = onnx.with_name("heldout.txt")
        tail.write_text(c.val_text, encoding="utf-8", newline="")
        report["heldout"] = heldout_score(onnx, c)
        return {"onnx": str(onnx), "heldout": str(tail)}, {"parity": parity}

    return publish(Path(out), KIND, model, fields, report, None if no_export else export)
