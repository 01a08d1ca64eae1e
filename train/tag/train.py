"""``edgernn train tag``: read CoNLL (or the shipped / synthetic sentences), train a BiLSTM-CRF
(or a streaming LSTM-CRF), keep the epoch with the best validation F1, export and verify the
graph, and report entity F1 per type as the runtime's tags give it."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import edgernn
from edgernn.errors import UsageError
from edgernn.tasks.tag import Tagger
from edgernn.tasks.tag_metrics import scores
from edgernn.train.progress import Progress, show_start, start_line
from edgernn.train.publish import publish
from edgernn.train.tag.conll import Sentence
from edgernn.train.tag.data import Encoded, Vocab, batch, encode, load_splits
from edgernn.train.tag.export import export_tagger
from edgernn.train.tag.model import TagConfig, TagModel

KIND = "tag"


@dataclass
class TagOptions:
    """What ``edgernn train tag`` was asked for."""

    data: str  # CoNLL file, cc0:ner or synth:entities[:N]
    val: str | None = None  # validation CoNLL file (None: 10% of data)
    test: str | None = None  # test CoNLL file (None: 10% of data)
    column: int = -1  # the tag's column (0-based, negative from the end)
    token_column: int = 0  # the token's column (0-based)
    scheme: str = "auto"  # tag scheme of the files: auto, iob1, iob2, iobes
    streaming: bool = False  # a forward-only LSTM-CRF that tags tokens as they arrive
    hidden: int = 64  # LSTM hidden size per direction
    embed: int = 50  # word embedding width
    char_filters: int = 48  # character CNN width
    epochs: int = 20  # passes over the training sentences (at most)
    patience: int = 5  # stop after this many epochs without a better validation F1
    batch_size: int = 32  # sentences per optimizer step
    lr: float = 3e-3  # Adam learning rate
    word_dropout: float = 0.1  # share of training words replaced by <unk> (teaches <unk>)
    max_len: int = 128  # tokens per graph call at runtime (longer sentences: overlapping windows)
    seed: int = 0  # seed of the split, the synthetic data, numpy and torch
    out: Path = Path("runs/tag")  # output folder
    no_export: bool = False  # do not export OUT/model.onnx
    quiet: bool = False  # no progress on stderr


def run_tag(**options) -> dict:
    """Train, export and evaluate; writes OUT/checkpoint.pt, OUT/model.onnx, OUT/report.json."""
    o = TagOptions(**options)
    if o.epochs < 1 or o.batch_size < 1 or o.max_len < 2:
        raise UsageError("--epochs and --batch-size must be >= 1 and --max-len >= 2")
    train, val, test, how = load_splits(
        o.data, o.val, o.test, o.seed, o.column, o.scheme, o.token_column
    )
    vocab = Vocab.build(train)
    config = TagConfig(
        vocab_size=len(vocab.words),
        n_chars=len(vocab.chars),
        n_tags=len(vocab.tags),
        embed=o.embed,
        char_filters=o.char_filters,
        hidden=o.hidden,
        bidirectional=not o.streaming,
    )
    torch.manual_seed(o.seed)
    model = TagModel(config, *vocab.constraints())
    arch = f"{'lstm' if o.streaming else 'bilstm'} {o.hidden} + char cnn + crf"
    show_start(
        start_line(
            KIND,
            model,
            rows=len(train) + len(val) + len(test),
            rows_unit="sentences",
            examples=len(train),
            examples_unit="sentences",
            arch=arch,
            plan=f"up to {o.epochs} epochs",
        ),
        o.quiet,
    )
    enc = [encode(s, vocab, config.max_chars) for s in (train, val, test)]
    history, seconds = fit(model, enc[0], enc[1], val, vocab, o)
    fields = {
        "labels": list(vocab.tags),
        "window": o.max_len,
        "tokenizer": {"kind": "word", "vocab": list(vocab.words), "unk": "<unk>"},
        "tagger": {"chars": list(vocab.chars), "lowercase": True},
        "provenance": {
            "data": {
                "source": o.data,
                "sentences": {"train": len(train), "val": len(val), "test": len(test)},
                "split": how,
            },
            "model": {"hidden": o.hidden, "bidirectional": not o.streaming},
        },
    }
    test_pt = evaluate(model, enc[2], test, vocab)
    report = {
        "task": KIND,
        "labels": list(vocab.tags),
        "data": fields["provenance"]["data"],
        "metrics": {"test": test_pt, "val": evaluate(model, enc[1], val, vocab)},
        "evaluated_with": "PyTorch (no export)",
        "training": {"history": history, "seconds": round(seconds, 1)},
        "config": {"model": config.to_dict(), "options": {**asdict(o), "out": str(o.out)}},
    }

    def export(onnx: Path) -> tuple[dict, dict]:
        sig = export_tagger(model, fields, onnx)
        report["metrics"]["test_pytorch"] = test_pt
        report["metrics"]["test"] = graph_metrics(onnx, test)
        report["evaluated_with"] = "the exported graph and the runtime's Viterbi (edgernn tag)"
        return {"onnx": str(onnx)}, {"parity": sig.parity}

    return publish(Path(o.out), KIND, model, fields, report, None if o.no_export else export)


def fit(
    model: TagModel,
    train: Encoded,
    val: Encoded,
    val_s: list[Sentence],
    vocab: Vocab,
    o: TagOptions,
) -> tuple[list[dict], float]:
    """Adam on the CRF's negative log-likelihood; the weights of the best validation F1 kept."""
    opt = torch.optim.Adam(model.parameters(), lr=o.lr)
    best, best_state, history, waited = -1.0, None, [], 0
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(o.seed)
    progress = Progress("epoch", o.epochs, KIND, o.quiet)
    for epoch in range(1, o.epochs + 1):
        model.train()
        total = 0.0
        order = torch.randperm(len(train.lengths), generator=gen)
        for lo in progress.batches(range(0, len(order), o.batch_size)):
            b = batch(train, order[lo : lo + o.batch_size])
            words = b.words
            if o.word_dropout > 0:
                drop = torch.rand(words.shape, generator=gen) < o.word_dropout
                words = torch.where(drop & (words > 0), torch.ones_like(words), words)
            mask = torch.arange(words.shape[1])[None] < b.lengths[:, None]
            loss = model.crf.nll(model.padded(words, b.chars, b.lengths), b.tags, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * len(b.lengths)
        f1 = evaluate(model, val, val_s, vocab)["micro"]["f1"] if val_s else -float(total)
        nll = total / len(train.lengths)
        history.append({"epoch": epoch, "train_nll": nll, "val_f1": f1})
        progress.update(epoch, {"train nll": f"{nll:.3f}", "val F1": f"{f1:.3f}"})
        if f1 > best:
            best, waited = f1, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= o.patience:
                break
    progress.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, time.perf_counter() - t0


def predict(model: TagModel, enc: Encoded, vocab: Vocab) -> list[list[str]]:
    """IOB2 tags of every sentence by the PyTorch model and its CRF."""
    model.eval()
    out: list[list[str]] = []
    with torch.no_grad():
        for lo in range(0, len(enc.lengths), 256):
            b = batch(enc, torch.arange(lo, min(lo + 256, len(enc.lengths))))
            mask = torch.arange(b.words.shape[1])[None] < b.lengths[:, None]
            emit = model.padded(b.words, b.chars, b.lengths)
            out += [[vocab.tags[k] for k in p] for p in model.crf.decode(emit, mask)]
    return out


def evaluate(model: TagModel, enc: Encoded, sentences: list[Sentence], vocab: Vocab) -> dict:
    """Entity F1 per type and micro, and token accuracy, of the PyTorch model."""
    if not sentences:
        return {}
    pred = predict(model, enc, vocab)
    return scores([s.tags for s in sentences], [p[: len(s.tags)] for p, s in zip(pred, sentences)])


def graph_metrics(onnx: Path, sentences: list[Sentence], lag: int = 2) -> dict:
    """The same figures as ``edgernn tag`` gives them: the exported graph, the runtime's
    decoding (a streaming model at ``lag``)."""
    if not sentences:
        return {}
    tagger = Tagger(edgernn.load(onnx, provider="cpu"), lag=lag)
    pred = tagger.tag_many([s.tokens for s in sentences])
    return scores([s.tags for s in sentences], pred)
