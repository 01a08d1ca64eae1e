"""Training a sequence classifier, and the ``edgernn train classify`` command: data, splits
and folds, one fit (with the small-data retrain), export, report.

Epoch mode of ``edgernn.train.loop`` (the steps are in ``epochs``): seeded shuffles of padded
batches, the cross-entropy of the logits at each sequence's last real step; the weights of the
best validation loss (val accuracy breaks ties) are kept, with early stopping on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler
from edgernn.train.classify.data import (
    Dataset,
    build_tokenizer,
    encode_texts,
    load_dataset,
    merge_test,
)
from edgernn.train.classify.ensemble import Ensemble, TCNEnsemble, assemble, build_classifier
from edgernn.train.classify.epochs import REFIT_BELOW, Split, train_member
from edgernn.train.classify.evaluate import build_report, streamed_metrics
from edgernn.train.classify.export import export_classifier
from edgernn.train.classify.model import Classifier, ClassifierConfig
from edgernn.train.classify.report import fold_summary, plot
from edgernn.train.classify.splits import (
    fold_indices,
    given_split,
    split_indices,
    stratified_folds,
)
from edgernn.train.loop import LoopConfig
from edgernn.train.progress import show_start, start_line
from edgernn.train.publish import publish

KIND = "classify"  # checkpoint kind (format and version: edgernn.train.checkpoint)


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

    data: str  # a CSV, .ts or fastText file, synth:sensor-classes[?n=&length=&seed=] or
    # synth:docstrings
    text: str | None = None  # text CSV: the column holding the text (one sequence per row)
    label: str | None = None  # CSV: the column holding the class (one per sequence)
    seq_id: str | None = None  # sensor CSV: the column naming the sequence of each row
    features: tuple[str, ...] | None = None  # sensor CSV: input columns; None: all but the above
    fmt: str = "auto"  # file format: auto (from the extension), csv, ts or fasttext
    encoding: str | None = None  # the files' text encoding; None: BOM, UTF-8, else cp1252
    split_column: str | None = None  # CSV column saying train / val / test per sequence
    test_data: str | None = None  # an official test file (same format) to test on
    folds: int = 0  # > 1: stratified k-fold cross-validation (the first fold's model is kept)
    tokenizer: str = "word"  # text: "char" or "word"
    vocab_size: int = 2000  # text: most frequent training tokens kept; the rest map to <unk>
    max_len: int = 512  # steps (tokens or rows) kept per sequence
    arch: str = "tcn"  # rnn, lstm or gru cells, or tcn (causal dilated convolutions)
    hidden: tuple[int, ...] | None = None  # width per stacked layer; None: DEFAULT_HIDDEN[arch]
    kernel: int = 3  # tcn: convolution width
    embed: int = 32  # text: token embedding width
    dropout: float = 0.1  # between layers and before the head
    token_dropout: float = 0.2  # text: share of training tokens fed as <unk>
    attention: bool = True  # attention pooling over the steps so far before the head
    max_pool: bool = True  # max pooling over the steps so far before the head
    epochs: int = 150  # maximum passes over the training sequences
    batch_size: int = 16  # sequences per optimizer step
    lr: float = 3e-3  # Adam learning rate at the start
    clip: float = 1.0  # max gradient norm (0 = off)
    patience: int = 20  # early stopping: epochs without a better val loss (0 = off)
    lr_patience: int = 5  # the lr halves after this many epochs without a better val loss
    refit: bool = True  # retrain on train + val for the best epoch count (small data)
    # networks trained apart (own seed and val draw) whose probabilities are averaged; None:
    # SMALL_DATA_MEMBERS under REFIT_BELOW training sequences, else 1
    members: int | None = None
    val_frac: float = 0.2  # share of the training sequences (per class) for validation
    test_frac: float = 0.15  # share of the sequences (per class) for the test report
    seed: int = 0  # seed for the split, numpy and torch
    out: Path = Path("runs/classify")  # output folder
    no_export: bool = False  # do not export OUT/model.onnx
    quiet: bool = False  # no progress (first line, bars, epoch lines)

    @property
    def layers(self) -> tuple[int, ...]:
        return self.hidden or DEFAULT_HIDDEN.get(self.arch, (64,))


DEFAULT_HIDDEN = {"tcn": (32,) * 6, "lstm": (64,), "gru": (64,), "rnn": (64,)}
SMALL_DATA_MEMBERS = 5  # --members by default under REFIT_BELOW training sequences (else 1)
MEMBER_SEED_STEP = 1000  # member m trains with seed --seed + 1000 * m (member 0: --seed itself)


def member_splits(
    splits: list[Split], members: int, o: ClassifyOptions, val_given: bool
) -> list[tuple[Split, Split]]:
    """(train, val) of each member: member 0 the split itself; each other member its own
    stratified draw of validation from train + val (the data's own val, when it has one, is
    every member's), so the members differ in what they early-stop on as well as in their
    initial weights."""
    out = [(splits[0], splits[1])]
    pool_x, pool_y = splits[0][0] + splits[1][0], np.concatenate([splits[0][1], splits[1][1]])
    for m in range(1, members):
        if val_given or not len(splits[1][1]):
            out.append((splits[0], splits[1]))
            continue
        tr, va, _ = split_indices(pool_y, o.val_frac, 0.0, o.seed + MEMBER_SEED_STEP * m)
        out.append((([pool_x[i] for i in tr], pool_y[tr]), ([pool_x[i] for i in va], pool_y[va])))
    return out


def run_classify(**options) -> dict:
    """Load, split, train, evaluate; write OUT/checkpoint.pt, OUT/report.json, OUT/report.png
    and OUT/model.onnx; the report. ``options``: ``ClassifyOptions``' fields. With ``folds``
    every fold is trained and tested; the report adds their accuracies (mean ± std, per fold) and
    the first fold's model is the one written."""
    o = ClassifyOptions(**options)
    dataset = load_data(o)
    if o.folds:
        if dataset.split:
            raise UsageError(
                "--folds draws its own test folds; drop --split-column / --test-data (or --folds)"
            )
        folds = stratified_folds(dataset.y, o.folds, o.seed)
        runs = [
            fit(o, dataset, fold_indices(dataset.y, folds, f, o.val_frac, o.seed), f == 0)
            for f in range(o.folds)
        ]
        rows = [
            {
                "fold": f + 1,
                "n": r[1]["metrics"]["test"]["n"],
                "accuracy": r[1]["metrics"]["test"]["accuracy"],
            }
            for f, r in enumerate(runs)
        ]
        model, report, test_ids = runs[0]
        report["folds"] = fold_summary(rows)
        report["data"]["split"] = f"stratified {o.folds}-fold; metrics.test: fold 1"
    else:
        model, report, test_ids = fit(o, dataset, split_of(o, dataset), True)
    fields = report.pop("_fields")
    out = Path(o.out)
    out.mkdir(parents=True, exist_ok=True)
    skipped = plot(out / "report.png", report)
    read = [dataset.notes[k] for k in ("encoding", "test_encoding") if k in dataset.notes]
    report["notes"] = read + ([skipped] if skipped else [])

    def export(onnx: Path) -> tuple[dict, dict]:
        parity = export_classifier(model, fields, onnx).parity
        report["metrics"]["test_pytorch"] = report["metrics"]["test"]
        report["metrics"]["test"] = streamed_metrics(onnx, dataset, test_ids)
        report["evaluated_with"] = STREAMED
        return {"onnx": str(onnx)}, {"parity": parity}

    report = publish(out, KIND, model, fields, report, None if o.no_export else export)
    if not skipped:
        plot(out / "report.png", report)  # with the streamed test figures
        report["files"]["report_png"] = str(out / "report.png")
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def split_of(o: ClassifyOptions, dataset: Dataset) -> tuple[list[int], list[int], list[int]]:
    """The data's own split (--split-column, --test-data) or a drawn one."""
    if dataset.split:
        return given_split(dataset.split, dataset.y, o.val_frac, o.seed)
    return split_indices(dataset.y, o.val_frac, o.test_frac, o.seed)


def fit(
    o: ClassifyOptions, dataset: Dataset, idx: tuple[list, list, list], show: bool
) -> tuple[Classifier | Ensemble | TCNEnsemble, dict, list[int]]:
    """Train one model on ``idx`` (train, val, test): the model, its report (the signature
    fields under "_fields") and the test sequences."""
    splits, fields, notes = prepare(dataset, idx, o.tokenizer, o.vocab_size, o.max_len)
    if not len(splits[0][1]):
        raise DataError("no non-empty training sequences; check --text / --data")
    token = dataset.kind == "text"
    config = ClassifierConfig(
        arch=o.arch,
        n_features=1 if token else len(dataset.features),
        vocab_size=notes["vocab_size"] if token else 0,
        embed=o.embed,
        hidden=o.layers,
        n_classes=len(dataset.labels),
        dropout=o.dropout,
        attention=o.attention,
        max_pool=o.max_pool,
        kernel=o.kernel,
    )
    members = o.members or (SMALL_DATA_MEMBERS if len(splits[0][1]) < REFIT_BELOW else 1)
    config = replace(config, members=members)
    if show:
        show_start(first_line(dataset, splits, build_classifier(config), o), o.quiet)
    nets, runs = [], []
    for m, (train, val) in enumerate(member_splits(splits, members, o, "val" in dataset.split)):
        loop = LoopConfig(
            lr=o.lr,
            clip=o.clip,
            epochs=o.epochs,
            batch_size=o.batch_size,
            patience=o.patience,
            lr_patience=o.lr_patience if len(val[1]) else None,
            desc="classify" if members == 1 else f"classify {m + 1}/{members}",
            quiet=o.quiet or not show,
        )
        seed = o.seed + MEMBER_SEED_STEP * m
        if members > 1 and show:
            show_start(
                f"network {m + 1}/{members} (seed {seed}): {len(train[1])} training, "
                f"{len(val[1])} validation sequences",
                o.quiet,
            )
        one = replace(config, members=1)
        net, history, refit_note = train_member(
            one, train, val, loop, seed, o.token_dropout, o.refit
        )
        runs.append((history, refit_note, seed))
        nets.append(net)
    model = assemble(config, nets).eval()
    history, refit_note, _ = runs[0]
    settings = {
        "tokenizer": o.tokenizer if token else None,
        "max_len": o.max_len,
        "batch_size": o.batch_size,
        "lr": o.lr,
        "seed": o.seed,
    }
    report = build_report(model, dataset, splits, fields, notes, history, settings)
    report["training"]["refit"] = refit_note
    if members > 1:
        report["training"]["members"] = [
            {"seed": seed, "epochs_run": h.epochs_run, "best_epoch": h.best_epoch, "refit": note}
            for h, note, seed in runs
        ]
    if dataset.split:
        report["data"]["split"] = "as given by the data (--split-column / --test-data)" + (
            "; val drawn from train, stratified" if "val" not in dataset.split else ""
        )
    report["_fields"] = fields
    return model, report, list(idx[2])


def first_line(
    dataset: Dataset,
    splits: list[Split],
    model: Classifier | Ensemble | TCNEnsemble,
    o: ClassifyOptions,
) -> str:
    """What ``edgernn train classify`` is about to train (``edgernn.train.progress``)."""
    hidden = ",".join(map(str, o.layers))
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
        arch=f"{o.arch} {hidden}{model.config.pooling}"
        + (f", {model.config.members} members averaged" if model.config.members > 1 else ""),
        plan=f"up to {o.epochs} epochs" + (" each" if model.config.members > 1 else ""),
    )


STREAMED = (
    "the exported graph, run by the runtime over each whole test sequence from a fresh state, "
    "as `edgernn classify` runs it (metrics.test_pytorch: the PyTorch model on the sequences "
    "cut to --max-len)"
)


def load_data(o: ClassifyOptions) -> Dataset:
    """The dataset (with the --test-data file's sequences as its test split); one-line errors
    for data that cannot train a classifier."""
    if o.max_len < 1:
        raise UsageError(f"--max-len must be >= 1, got {o.max_len}")
    if o.split_column and o.test_data:
        raise UsageError("give one of --split-column and --test-data, not both")
    how = {"fmt": o.fmt, "encoding": o.encoding}
    dataset = load_dataset(
        o.data,
        text=o.text,
        label=o.label,
        seq_id=o.seq_id,
        features=o.features,
        split_column=o.split_column,
        **how,
    )
    if o.test_data:
        test = load_dataset(
            o.test_data, text=o.text, label=o.label, seq_id=o.seq_id, features=o.features, **how
        )
        dataset = merge_test(dataset, test)
    if len(dataset.labels) < 2:
        raise DataError(
            f"--label has {len(dataset.labels)} distinct value(s); classification needs at least 2"
        )
    return dataset
