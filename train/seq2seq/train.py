"""Training a seq2seq model, and the ``edgernn train seq2seq`` command.

Step mode of ``edgernn.train.loop``: seeded Adam with teacher forcing on random batches of
training pairs; then the validation loss and greedy exact match on the held-out pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgernn.signature import Tokenizer
from edgernn.train.cells import native_kernels
from edgernn.train.loop import LoopConfig, TrainResult, train_steps
from edgernn.train.progress import show_start, start_line
from edgernn.train.publish import publish
from edgernn.train.seq2seq.data import (
    Pair,
    Pairs,
    batch_tensors,
    build_vocab,
    load_pairs,
    tokenizer,
)
from edgernn.train.seq2seq.export import encoder_path, export_seq2seq
from edgernn.train.seq2seq.model import BOS_ID, EOS_ID, PAD_ID, UNK, Seq2SeqConfig, Seq2SeqNet

KIND = "seq2seq"  # checkpoint kind (format and version: edgernn.train.checkpoint)


@torch.no_grad()
def greedy_torch(net: Seq2SeqNet, text: str, tok: Tokenizer, max_len: int = 50) -> str:
    """Greedy decoding in PyTorch (the reference for the runtime's ``Seq2Seq.greedy``)."""
    ids = tok.encode(text)
    h, c = net.encode(torch.tensor([ids]))
    token, out = BOS_ID, []
    for _ in range(max_len):
        logits, h, c = net.decode(torch.tensor([[token]]), h, c)  # (1, 1, V)
        token = int(logits[0, -1].argmax())
        if token == EOS_ID:
            break
        out.append(token)
    return tok.decode(out)


def exact_match(net: Seq2SeqNet, pairs: list[Pair], tok: Tokenizer) -> float:
    """Share of ``pairs`` whose greedy decoding is exactly the target (nan for none)."""
    net.eval()
    if not pairs:
        return float("nan")
    return float(np.mean([greedy_torch(net, s, tok, 2 * len(t) + 5) == t for s, t in pairs]))


def pair_loss(net: Seq2SeqNet, pairs: list[Pair], tok: Tokenizer) -> torch.Tensor:
    """Teacher-forced cross-entropy of the target tokens (padding ignored)."""
    x, lengths, tin, tout = batch_tensors(pairs, tok)  # (B, S), (B,), (B, T), (B, T)
    logits = net(x, lengths, tin)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), tout.flatten(), ignore_index=PAD_ID)


def train_seq2seq(config: Seq2SeqConfig) -> TrainResult:
    """Seeded Adam with teacher forcing on random batches of training pairs; ``data``: Pairs."""
    train, val, source = load_pairs(config)
    vocab = build_vocab(train)
    tok = tokenizer(vocab)
    config.vocab_size = len(vocab)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = Seq2SeqNet(config)
    show_start(
        start_line(
            "seq2seq",
            net,
            rows=len(train) + len(val),
            rows_unit="pairs",
            examples=len(train),
            examples_unit=f"pairs (vocab {len(vocab)})",
            arch=f"lstm {config.hidden} encoder-decoder",
            plan=f"{config.steps:,} steps of {min(config.batch_size, len(train))} pairs",
        ),
        config.quiet,
    )

    def batch_loss() -> torch.Tensor:
        idx = rng.integers(0, len(train), size=min(config.batch_size, len(train)))
        return pair_loss(net, [train[i] for i in idx], tok)

    loop = LoopConfig(
        lr=config.lr, clip=config.clip, steps=config.steps, desc="seq2seq", quiet=config.quiet
    )
    history = train_steps(net, loop, batch_loss)
    with native_kernels():
        net.eval()
        with torch.no_grad():
            val_loss = float(pair_loss(net, val, tok))
        acc = exact_match(net, val, tok)
    metrics = {
        "train_loss": history.smoothed_loss,
        "val_loss": val_loss,
        "val_exact_match": acc,
        "seconds": round(history.seconds, 1),
        "steps": config.steps,
    }
    sizes = {
        "train": len(train),
        "val": len(val),
        "max_source_len": max(len(s) for s, _ in train),
        "max_target_len": max(len(t) for _, t in train),
    }
    return TrainResult(net.eval(), history, metrics, Pairs(vocab, source, sizes))


def signature_fields(
    net: Seq2SeqNet,
    vocab: Sequence[str],
    source: str,
    metrics: dict,
    extra: dict | None = None,
) -> dict:
    """The training-time signature fields of a seq2seq model (export adds the rest)."""
    cfg = net.config
    model = {"embed": cfg.embed, "hidden": cfg.hidden, "shared_embedding": cfg.shared_embedding}
    return {
        "task": "seq2seq",
        "arch": "lstm",
        "layers": [cfg.hidden],
        "tokenizer": {"kind": "char", "vocab": list(vocab), "unk": UNK},
        "provenance": {
            "data": {"source": source, "vocab_size": len(vocab), **(extra or {})},
            "metrics": metrics,
            "model": model,
        },
    }


# ---- the `edgernn train seq2seq` command ---------------------------------------------------
def run_seq2seq(
    *,
    data: str,
    hidden: int,
    embed: int,
    separate_embeddings: bool,
    pairs: int,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    out: Path,
    no_export: bool,
    quiet: bool,
) -> dict:
    """Train, save OUT/checkpoint.pt, export OUT/model.onnx + OUT/model.encoder.onnx, write
    OUT/report.json; the report."""
    config = Seq2SeqConfig(
        embed=embed,
        hidden=hidden,
        shared_embedding=not separate_embeddings,
        data=data,
        synth_pairs=pairs,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        quiet=quiet,
    )
    result = train_seq2seq(config)
    net, p = result.model, result.data
    extra = {
        "pairs": {"train": p.sizes["train"], "val": p.sizes["val"]},
        "max_source_len": p.sizes["max_source_len"],
        "max_target_len": p.sizes["max_target_len"],
    }
    fields = signature_fields(net, p.vocab, p.source, result.metrics, extra)
    report = {
        "task": "seq2seq",
        "arch": "lstm",
        "layers": [hidden],
        "data": p.source,
        "pairs": p.sizes,
        "vocab_size": len(p.vocab),
        "metrics": result.metrics,
        "config": config.to_dict(),
    }

    def export(onnx: Path) -> tuple[dict, dict]:
        dec, enc = export_seq2seq(net, fields, onnx)
        files = {"onnx": str(onnx), "encoder": str(encoder_path(onnx))}
        return files, {"decoder_parity": dec.parity, "encoder_parity": enc.parity}

    return publish(Path(out), KIND, net, fields, report, None if no_export else export)
