"""Training a sequence classifier, and the ``edgernn train classify`` command.

Epoch mode of ``edgernn.train.loop``: seeded shuffles of padded batches, the cross-entropy of
the logits at each sequence's last real step; the weights of the best validation loss (val
accuracy breaks ties) are kept, with early stopping on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import edgernn
from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler
from edgernn.tasks.classify import ClassifierStream
from edgernn.train.classify.batches import last_logits, metrics, pad_batch, predict
from edgernn.train.classify.data import (
    Dataset,
    build_tokenizer,
    encode_texts,
    load_dataset,
    split_indices,
)
from edgernn.train.classify.export import export_classifier
from edgernn.train.classify.model import Classifier, ClassifierConfig
from edgernn.train.loop import Evaluation, History, LoopConfig, train_epochs
from edgernn.train.progress import show_start, start_line
from edgernn.train.publish import publish

KIND = "classify"  # checkpoint kind (format and version: edgernn.train.checkpoint)
Split = tuple[list, np.ndarray]  # (sequences, labels (N,))


class SequenceTask:
    """Classifier training as the loop sees it: shuffled padded batches, last-step
    cross-entropy, validation loss and accuracy."""

    def __init__(self, model: Classifier, train: Split, val: Split, seed: int):
        self.model, self.val = model, val
        self.seqs, self.y = train
        self.size = len(self.seqs)
        self.token = bool(model.config.vocab_size)
        self.rng = np.random.default_rng(seed)

    def shuffle(self) -> np.ndarray:
        return self.rng.permutation(self.size)

    def loss(self, idx: np.ndarray) -> torch.Tensor:
        x, lengths = pad_batch([self.seqs[j] for j in idx], self.token)
        logits = last_logits(self.model(x)[0], lengths)  # (B, C)
        return nn.functional.cross_entropy(logits, torch.from_numpy(self.y[idx]))

    def evaluate(self, epoch: int, train_loss: float, lr: float) -> Evaluation:
        seqs, y = self.val
        classes = tuple(map(str, range(self.model.config.n_classes)))
        m = metrics(predict(self.model, seqs), y, classes) if len(y) else {}
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": m.get("loss"),
            "val_accuracy": m.get("accuracy"),
        }
        shown = {
            "train": f"{train_loss:.3f}",
            "val": f"{m.get('loss', float('nan')):.3f}",
            "val_acc": f"{m.get('accuracy', float('nan')):.3f}",
        }
        score = (m["loss"], -m["accuracy"]) if m else (train_loss, 0.0)
        return Evaluation(score, m.get("loss"), row, shown)


def train_classifier(
    model: Classifier, train: Split, val: Split, loop: LoopConfig, seed: int
) -> History:
    """Seeded Adam on shuffled padded batches; the best epoch's weights are kept."""
    torch.manual_seed(seed)
    return train_epochs(model, SequenceTask(model, train, val, seed), loop)


# ---- the `edgernn train classify` command -----------------------------------------------------
def prepare(
    data: Dataset, idx: tuple[list, list, list], tokenizer: str, vocab_size: int, max_len: int
) -> tuple[list[Split], dict, dict]:
    """Model inputs per split, the signature fields they imply (tokenizer or scaler), and notes
    on the data."""
    if data.kind == "text":
        return _prepare_text(data, idx, tokenizer, vocab_size, max_len)
    seqs = [data.sequences[i][:max_len] for i in idx[0]]
    rows = np.concatenate(seqs)  # (N, F)
    mean, std = rows.mean(0), rows.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    scaler = Scaler("standard", tuple(map(float, mean)), tuple(map(float, std)))
    splits = [
        ([scaler.transform(data.sequences[i][:max_len]) for i in ids], data.y[ids]) for ids in idx
    ]
    offset, scale = list(scaler.offset), list(scaler.scale)
    fields = {
        "features": list(data.features),
        "input_scaler": {"kind": scaler.kind, "offset": offset, "scale": scale},
    }
    return splits, fields, {}


def _prepare_text(
    data: Dataset, idx: tuple[list, list, list], tokenizer: str, vocab_size: int, max_len: int
) -> tuple[list[Split], dict, dict]:
    """Token ids per split (empty texts dropped), from a tokenizer built on the training texts."""
    tok = build_tokenizer([data.sequences[i] for i in idx[0]], tokenizer, vocab_size)
    splits, unknown, dropped = [], {}, {}
    for name, ids in zip(("train", "val", "test"), idx):
        enc, unknown[name] = encode_texts(tok, [data.sequences[i] for i in ids], max_len)
        keep = [k for k, e in enumerate(enc) if len(e)]
        dropped[name] = len(enc) - len(keep)
        splits.append(([enc[k] for k in keep], data.y[[ids[k] for k in keep]]))
    fields = {"tokenizer": {"kind": tok.kind, "vocab": list(tok.vocab), "unk": tok.unk}}
    notes = {"unknown_tokens": unknown, "empty_dropped": dropped, "vocab_size": len(tok.vocab)}
    return splits, fields, notes


@dataclass(frozen=True)
class ClassifyOptions:
    """The settings of ``edgernn train classify`` (its options, by name)."""

    data: str  # a CSV with a header, synth:sensor-classes[?n=&length=&seed=] or synth:docstrings
    text: str | None = None  # text CSV: the column holding the text (one sequence per row)
    label: str | None = None  # CSV: the column holding the class (one per sequence)
    seq_id: str | None = None  # sensor CSV: the column naming the sequence of each row
    features: tuple[str, ...] | None = None  # sensor CSV: input columns; None: all but the above
    tokenizer: str = "char"  # text: "char" or "word"
    vocab_size: int = 96  # text: most frequent training tokens kept; the rest map to <unk>
    max_len: int = 256  # steps (tokens or rows) kept per sequence
    arch: str = "lstm"  # recurrent cell: rnn, lstm or gru
    hidden: tuple[int, ...] = (64,)  # hidden size per stacked layer
    embed: int = 32  # text: token embedding width
    dropout: float = 0.0  # between layers and before the head
    attention: bool = False  # attention pooling over the steps so far before the head
    epochs: int = 20  # maximum passes over the training sequences
    batch_size: int = 32  # sequences per optimizer step
    lr: float = 3e-3  # Adam learning rate
    clip: float = 1.0  # max gradient norm (0 = off)
    patience: int = 5  # early stopping: epochs without a better val loss (0 = off)
    val_frac: float = 0.15  # share of the sequences (per class) for validation
    test_frac: float = 0.15  # share of the sequences (per class) for the test report
    seed: int = 0  # seed for the split, numpy and torch
    out: Path = Path("runs/classify")  # output folder
    no_export: bool = False  # do not export OUT/model.onnx
    quiet: bool = False  # no progress (first line, bars, epoch lines)


def run_classify(**options) -> dict:
    """Load, split, train, evaluate; write OUT/checkpoint.pt, OUT/report.json and
    OUT/model.onnx; the report. ``options``: ``ClassifyOptions``' fields."""
    o = ClassifyOptions(**options)
    dataset, splits, fields, notes, test_ids = load_splits(o)
    token = dataset.kind == "text"
    config = ClassifierConfig(
        arch=o.arch,
        n_features=1 if token else len(dataset.features),
        vocab_size=notes["vocab_size"] if token else 0,
        embed=o.embed,
        hidden=o.hidden,
        n_classes=len(dataset.labels),
        dropout=o.dropout,
        attention=o.attention,
    )
    torch.manual_seed(o.seed)
    model = Classifier(config)
    show_start(first_line(dataset, splits, model, o), o.quiet)
    loop = LoopConfig(
        lr=o.lr,
        clip=o.clip,
        epochs=o.epochs,
        batch_size=o.batch_size,
        patience=o.patience,
        desc="classify",
        quiet=o.quiet,
    )
    history = train_classifier(model, splits[0], splits[1], loop, o.seed)
    settings = {
        "tokenizer": o.tokenizer if token else None,
        "max_len": o.max_len,
        "batch_size": o.batch_size,
        "lr": o.lr,
        "seed": o.seed,
    }
    report = build_report(model, dataset, splits, fields, notes, history, settings)

    def export(onnx: Path) -> tuple[dict, dict]:
        parity = export_classifier(model, fields, onnx).parity
        report["metrics"]["test_pytorch"] = report["metrics"]["test"]
        report["metrics"]["test"] = streamed_metrics(onnx, dataset, test_ids)
        report["evaluated_with"] = STREAMED
        return {"onnx": str(onnx)}, {"parity": parity}

    return publish(Path(o.out), KIND, model, fields, report, None if o.no_export else export)


def first_line(dataset: Dataset, splits: list[Split], model: Classifier, o: ClassifyOptions) -> str:
    """What ``edgernn train classify`` is about to train (``edgernn.train.progress``)."""
    hidden = ",".join(map(str, o.hidden))
    classes = f"{len(dataset.labels)} classes"
    series: int | None
    if dataset.kind == "text":  # one text per row
        rows, rows_unit, series = len(dataset.sequences), "texts", None
        unit = f"texts ({classes}, vocab {model.config.vocab_size:,})"
    else:  # rows of sensor records, grouped into sequences
        rows, rows_unit, series = (
            sum(len(s) for s in dataset.sequences),
            "rows",
            len(dataset.sequences),
        )
        unit = f"sequences ({classes})"
    return start_line(
        "classify",
        model,
        rows=rows,
        rows_unit=rows_unit,
        series=series,
        series_unit="sequences",
        examples=len(splits[0][1]),
        examples_unit=unit,
        arch=f"{o.arch} {hidden}" + (" + attention" if o.attention else ""),
        plan=f"up to {o.epochs} epochs",
    )


STREAMED = (
    "the exported graph, run by the runtime over each whole test sequence from a fresh state, "
    "as `edgernn classify` runs it (metrics.test_pytorch: the PyTorch model on the sequences "
    "cut to --max-len)"
)


def streamed_metrics(onnx: Path, dataset: Dataset, ids: Sequence[int]) -> dict:
    """The test figures as ``edgernn classify`` gives them: each test sequence (whole, from a
    fresh state) through the exported graph; its final probabilities are its answer. Texts with
    no token are left out, as training leaves them out."""
    stream = ClassifierStream(edgernn.load(onnx, provider="cpu"))
    logp, y = [], []
    for i in ids:
        seq = dataset.sequences[i]
        if dataset.kind == "text":
            if stream.tokenizer is None or not stream.tokenizer.tokens(seq):
                continue
            running, _ = stream.classify_text(seq)
            probs = running[-1][1]
        else:
            probs = stream.classify_sequence(seq)[0][-1]
        logp.append([math.log(max(probs[label], 1e-300)) for label in dataset.labels])
        y.append(dataset.y[i])
    return metrics(np.array(logp).reshape(-1, len(dataset.labels)), np.array(y), dataset.labels)


def load_splits(o: ClassifyOptions) -> tuple[Dataset, list[Split], dict, dict, list[int]]:
    """The dataset, its train / val / test model inputs, the signature fields they imply, notes
    on the data and the test sequences' indices; one-line errors for data that cannot train a
    classifier."""
    if o.max_len < 1:
        raise UsageError(f"--max-len must be >= 1, got {o.max_len}")
    dataset = load_dataset(o.data, text=o.text, label=o.label, seq_id=o.seq_id, features=o.features)
    if len(dataset.labels) < 2:
        raise DataError(
            f"--label has {len(dataset.labels)} distinct value(s); classification needs at least 2"
        )
    idx = split_indices(dataset.y, o.val_frac, o.test_frac, o.seed)
    splits, fields, notes = prepare(dataset, idx, o.tokenizer, o.vocab_size, o.max_len)
    if not len(splits[0][1]):
        raise DataError("no non-empty training sequences; check --text / --data")
    return dataset, splits, fields, notes, list(idx[2])


def build_report(
    model: Classifier,
    dataset: Dataset,
    splits: list[Split],
    fields: dict,
    notes: dict,
    history: History,
    settings: dict,
) -> dict:
    """report.json (``files`` and ``export`` come later); completes ``fields`` with the labels,
    window and provenance."""
    (tr, va, te), labels, config = splits, dataset.labels, model.config
    test = metrics(predict(model, te[0]), te[1], labels)
    majority = int(np.bincount(tr[1], minlength=len(labels)).argmax())
    baseline = {
        "class": labels[majority],
        "test_accuracy": float((te[1] == majority).mean()) if len(te[1]) else None,
    }
    sizes = {"train": len(tr[1]), "val": len(va[1]), "test": len(te[1])}
    split = "seeded stratified shuffle of whole sequences"
    token = bool(config.vocab_size)
    fields["labels"], fields["window"] = list(labels), settings["max_len"]
    fields["provenance"] = {
        "data": {
            "source": dataset.source,
            "kind": dataset.kind,
            "sequences": sizes,
            "split": split,
            **notes,
        },
        "metrics": {
            "test_accuracy": test.get("accuracy"),
            "majority_baseline": baseline["test_accuracy"],
        },
        "model": {
            "arch": config.arch,
            "hidden": list(config.hidden),
            "embed": config.embed if token else None,
            "attention": config.attention,
        },
    }
    training = {
        "epochs_run": history.epochs_run,
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "seconds": round(history.seconds, 1),
        "history": history.rows,
    }
    return {
        "task": "classify",
        "kind": dataset.kind,
        "arch": config.arch,
        "layers": list(config.hidden),
        "labels": list(labels),
        "data": fields["provenance"]["data"],
        "metrics": {"test": test, "val": metrics(predict(model, va[0]), va[1], labels)},
        "baseline": {"majority": baseline},
        "training": training,
        "config": {"model": config.to_dict(), **settings},
    }
