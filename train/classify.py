"""Sequence classification: an RNN / LSTM / GRU that emits running class logits after every step.

``Classifier.forward(x, *states)`` follows the streaming contract of ``Forecaster``: the state
goes in and comes out as plain tensors, so the exporter turns each into ``state_in.N`` /
``state_out.N``. The output at step t is the classification of the sequence seen so far;
training reads it at each sequence's last real step. Inputs are sensor features (B, T, F)
in model units, or token ids (B, T) int64 for text (``config.vocab_size`` > 0).

>>> net = Classifier(ClassifierConfig(arch="gru", n_features=2, hidden=(4,), n_classes=3))
>>> logits, h = net(torch.zeros(5, 7, 2))
>>> tuple(logits.shape), tuple(h.shape)
((5, 7, 3), (1, 5, 4))
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler, Signature, StateSpec, TensorSpec, Tokenizer
from edgernn.train.attention import AttentionPool
from edgernn.train.checkpoint import load_module, save_module
from edgernn.train.classify_data import (
    Dataset,
    build_tokenizer,
    encode_texts,
    load_dataset,
    split_indices,
)
from edgernn.train.models import CELLS, native_kernels

KIND = "classify"  # checkpoint kind (format and version: edgernn.train.checkpoint)


@dataclass
class ClassifierConfig:
    """Model size of a sequence classifier."""

    arch: str = "lstm"  # recurrent cell: "rnn" (tanh), "lstm" or "gru"
    n_features: int = 1  # sensor: input columns per step (ignored for text)
    vocab_size: int = (
        0  # text: token ids in [0, vocab_size), "<unk>" = 0 included; 0 = sensor model
    )
    embed: int = 32  # text: token embedding width
    hidden: tuple[int, ...] = (64,)  # hidden size of each stacked recurrent layer, bottom to top
    n_classes: int = 2  # classes (logits per step)
    dropout: float = 0.0  # dropout between recurrent layers and before the head (training only)
    attention: bool = (
        False  # attention pooling over the steps so far before the head (online softmax as state)
    )

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.arch not in CELLS:
            raise UsageError(f"unknown --arch {self.arch!r}; choose one of {', '.join(CELLS)}")
        if not self.hidden or min(self.hidden) < 1 or self.embed < 1 or self.n_features < 1:
            raise UsageError(
                f"--hidden and --embed must be positive, got {self.hidden} and {self.embed}"
            )
        if self.n_classes < 2:
            raise DataError(f"classification needs at least 2 classes, got {self.n_classes}")

    @property
    def n_targets(
        self,
    ) -> int:  # the graph's output width, as parity.io_shapes reads it for feature models
        return self.n_classes

    @property
    def n_outputs(self) -> int:
        return self.n_classes

    def to_dict(self) -> dict:
        return asdict(self)


class Classifier(nn.Module):
    """[Embedding] + stacked RNN / LSTM / GRU layers [+ attention pooling] + linear head on every step."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        first = config.embed if config.vocab_size else config.n_features
        self.embed = nn.Embedding(config.vocab_size, config.embed) if config.vocab_size else None
        sizes_in = (first,) + config.hidden[:-1]
        cell = CELLS[config.arch]
        self.layers = nn.ModuleList(
            cell(i, h, batch_first=True) for i, h in zip(sizes_in, config.hidden)
        )
        self.drop = nn.Dropout(config.dropout)
        self.attn = AttentionPool(config.hidden[-1]) if config.attention else None
        self.head = nn.Linear(
            config.hidden[-1] * (2 if config.attention else 1), config.n_classes
        )  # [h_t, context_t]

    @property
    def states_per_layer(self) -> int:
        return 2 if self.config.arch == "lstm" else 1

    def initial_state(self, batch: int) -> list[torch.Tensor]:
        """Zero state: per layer (1, B, H) hidden (and cell, for LSTM), then the attention pool's."""
        pool = self.attn.initial_state(batch) if self.attn is not None else []
        return [
            torch.zeros(1, batch, h)
            for h in self.config.hidden
            for _ in range(self.states_per_layer)
        ] + pool

    def state_shapes(self) -> list[tuple]:
        pool = self.attn.state_shapes() if self.attn is not None else []
        return [
            (1, "batch", h) for h in self.config.hidden for _ in range(self.states_per_layer)
        ] + pool

    def forward(self, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, T, F) model units or (B, T) int64 ids -> (logits (B, T, C), *new_states)."""
        if not states:
            states = tuple(self.initial_state(x.shape[0]))
        h = self.embed(x) if self.embed is not None else x
        k = self.states_per_layer
        new_states: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = self.drop(h)
            if k == 2:
                h, (hn, cn) = layer(h, (states[2 * i], states[2 * i + 1]))
                new_states += [hn, cn]
            else:
                h, hn = layer(h, states[i])
                new_states.append(hn)
        if self.attn is not None:
            context, *pool = self.attn(
                h, *states[len(new_states) :]
            )  # (B, T, H): attention over steps 1..t
            new_states += pool
            h = torch.cat(
                [h, context], dim=2
            )  # (B, T, 2H): the latest step and what attention picked
        return (self.head(self.drop(h)), *new_states)


# ---- batches --------------------------------------------------------------------------------
def pad_batch(seqs: list[np.ndarray], token: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded batch ((B, T) int64 ids or (B, T, F) float32, pad 0) and lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    t = int(lengths.max())
    if token:
        out = np.zeros((len(seqs), t), dtype=np.int64)
    else:
        out = np.zeros((len(seqs), t, seqs[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out), lengths


def last_logits(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, C) logits at each sequence's last real step (length - 1) -> (B, C).
    Correct masking for a causal model: padding comes after the real steps, so it never
    reaches the step read here."""
    return logits[torch.arange(logits.shape[0]), lengths - 1]


def predict(model: Classifier, seqs: list[np.ndarray], batch_size: int = 128) -> np.ndarray:
    """Final-step logits (N, C) of each sequence (padded batches, in order)."""
    token = bool(model.config.vocab_size)
    out = []
    model.eval()
    with native_kernels(), torch.no_grad():
        for i in range(0, len(seqs), batch_size):
            x, lengths = pad_batch(seqs[i : i + batch_size], token)
            out.append(last_logits(model(x)[0], lengths).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.n_classes), np.float32)


def metrics(logits: np.ndarray, y: np.ndarray, labels: tuple[str, ...]) -> dict:
    """Accuracy, cross-entropy, per-class precision / recall and the confusion matrix (rows: true)."""
    n = len(y)
    if n == 0:
        return {"n": 0}
    pred = logits.argmax(1)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    per = {}
    for c, name in enumerate(labels):
        tp, pp, ap = cm[c, c], cm[:, c].sum(), cm[c].sum()
        per[name] = {
            "precision": float(tp / pp) if pp else None,
            "recall": float(tp / ap) if ap else None,
            "n": int(ap),
        }
    return {
        "n": n,
        "accuracy": float((pred == y).mean()),
        "loss": float(-logp[np.arange(n), y].mean()),
        "per_class": per,
        "confusion": cm.tolist(),
    }


# ---- training -------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Training settings of ``train_classifier``."""

    epochs: int = 20  # maximum passes over the training sequences
    batch_size: int = 32  # sequences per optimizer step
    lr: float = 3e-3  # Adam learning rate
    clip: float = 1.0  # max gradient norm (0 = off)
    patience: int = 5  # early stopping: epochs without a better val loss (0 = off)
    seed: int = 0  # seed for numpy and torch
    quiet: bool = False  # no progress bar


@dataclass
class TrainResult:
    model: Classifier
    history: list = field(default_factory=list)  # per epoch: train loss, val loss, val accuracy
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0


def train_classifier(
    model: Classifier,
    train: tuple[list, np.ndarray],
    val: tuple[list, np.ndarray],
    cfg: TrainConfig,
) -> TrainResult:
    """Seeded Adam on shuffled padded batches; cross-entropy of the logits at each sequence's
    last real step; the weights of the best val loss (val accuracy breaks ties) are kept."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    seqs, y = train
    token = bool(model.config.vocab_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    result, best, best_state, bad = TrainResult(model), None, None, 0
    start = time.perf_counter()
    bar = tqdm(range(1, cfg.epochs + 1), desc="classify", disable=cfg.quiet, unit="epoch")
    with native_kernels():
        for epoch in bar:
            model.train()
            order, losses = rng.permutation(len(seqs)), []
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                x, lengths = pad_batch([seqs[j] for j in idx], token)
                loss = nn.functional.cross_entropy(
                    last_logits(model(x)[0], lengths), torch.from_numpy(y[idx])
                )
                opt.zero_grad()
                loss.backward()
                if cfg.clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
                opt.step()
                losses.append(loss.item())
            m = (
                metrics(
                    predict(model, val[0]), val[1], tuple(map(str, range(model.config.n_classes)))
                )
                if len(val[1])
                else {}
            )
            row = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_loss": m.get("loss"),
                "val_accuracy": m.get("accuracy"),
            }
            result.history.append(row)
            bar.set_postfix(
                loss=f"{row['train_loss']:.3f}", val_acc=f"{m.get('accuracy', float('nan')):.3f}"
            )
            score = (m["loss"], -m["accuracy"]) if m else (row["train_loss"], 0.0)
            if best is None or score < best:
                best, best_state, bad, result.best_epoch = (
                    score,
                    copy.deepcopy(model.state_dict()),
                    0,
                    epoch,
                )
            else:
                bad += 1
                if cfg.patience and bad >= cfg.patience:
                    result.stopped_early = True
                    break
    model.load_state_dict(best_state)
    result.seconds = round(time.perf_counter() - start, 1)
    return result


# ---- signature, checkpoint, export ----------------------------------------------------------
def build_signature(
    model: Classifier, fields: dict, states: tuple[StateSpec, ...], parity: dict, export: dict
) -> Signature:
    """The runtime's signature of an exported classifier (``fields`` from ``run_classify``)."""
    cfg = model.config
    none = Scaler("none", (), ())
    if cfg.vocab_size:
        tok = fields["tokenizer"]
        inputs = (TensorSpec("tokens", ("batch", "time"), "int64"),)
        tokenizer, scaler = Tokenizer(tok["kind"], tuple(tok["vocab"]), tok["unk"]), none
    else:
        inputs = (TensorSpec("x", ("batch", "time", cfg.n_features)),)
        s = fields["input_scaler"]
        tokenizer, scaler = None, Scaler(s["kind"], tuple(s["offset"]), tuple(s["scale"]))
    return Signature(
        task="classify",
        arch=cfg.arch,
        layers=cfg.hidden,
        features=tuple(fields.get("features", ())),
        targets=(),
        states=states,
        input_scaler=scaler,
        target_scaler=none,
        window=int(fields.get("window", 0)),
        causal=True,
        inputs=inputs,
        outputs=(TensorSpec("logits", ("batch", "time", cfg.n_classes)),),
        labels=tuple(fields["labels"]),
        tokenizer=tokenizer,
        parity=parity,
        provenance={**fields.get("provenance", {}), "export": export},
    )


def export_classifier(model: Classifier, fields: dict, out: str | Path, config=None) -> Signature:
    """Export through the verified exporter (ONNX Runtime within 1e-5 of PyTorch)."""
    from edgernn.train.export import ExportConfig, export_module, parity_record, versions

    token = bool(model.config.vocab_size)
    # as for the char LM: the reference evaluator accumulates in another order (2e-5 for it)
    config = config or ExportConfig(
        input_name="tokens" if token else "x",
        output_name="logits",
        tolerance=1e-5,
        reference_tolerance=2e-5,
    )
    if config.reduction() is not None:
        raise UsageError(
            "--quantize / --precision fp16 are not supported for classifiers yet; export float32"
        )

    def make(names, tried) -> Signature:
        states = tuple(
            StateSpec(i, o, tuple(s))
            for i, o, s in zip(names.state_inputs, names.state_outputs, model.state_shapes())
        )
        signature = build_signature(model, fields, states, parity_record(tried, config), versions())
        return Signature.from_json(signature.to_json())

    return export_module(model.eval(), Path(out), config, make)


def save_classifier(path: str | Path, model: Classifier, fields: dict) -> Path:
    """A self-describing checkpoint (``edgernn.train.checkpoint.save_module``)."""
    return save_module(path, KIND, model, fields)


def load_classifier(path: str | Path) -> tuple[Classifier, dict]:
    """(model in eval mode, signature fields); a clear DataError for anything else."""
    return load_module(path, KIND, lambda config: Classifier(ClassifierConfig(**config)))


# ---- the `edgernn train classify` command -----------------------------------------------------
def prepare(
    data: Dataset, idx: tuple[list, list, list], tokenizer: str, vocab_size: int, max_len: int
):
    """Model inputs per split plus the signature fields they imply (tokenizer or scaler)."""
    train_i, val_i, test_i = idx
    if data.kind == "text":
        tok = build_tokenizer([data.sequences[i] for i in train_i], tokenizer, vocab_size)
        splits, unknown, dropped = [], {}, {}
        for name, ids in zip(("train", "val", "test"), idx):
            enc, unknown[name] = encode_texts(tok, [data.sequences[i] for i in ids], max_len)
            keep = [k for k, e in enumerate(enc) if len(e)]
            dropped[name] = len(enc) - len(keep)
            splits.append(([enc[k] for k in keep], data.y[[ids[k] for k in keep]]))
        fields = {"tokenizer": {"kind": tok.kind, "vocab": list(tok.vocab), "unk": tok.unk}}
        return (
            splits,
            fields,
            {"unknown_tokens": unknown, "empty_dropped": dropped, "vocab_size": len(tok.vocab)},
        )
    seqs = [data.sequences[i][:max_len] for i in train_i]
    rows = np.concatenate(seqs)
    mean, std = rows.mean(0), rows.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    scaler = Scaler("standard", tuple(map(float, mean)), tuple(map(float, std)))
    splits = [
        ([scaler.transform(data.sequences[i][:max_len]) for i in ids], data.y[ids]) for ids in idx
    ]
    fields = {
        "features": list(data.features),
        "input_scaler": {
            "kind": scaler.kind,
            "offset": list(scaler.offset),
            "scale": list(scaler.scale),
        },
    }
    return splits, fields, {}


def run_classify(
    *,
    data: str,
    text: str | None = None,
    label: str | None = None,
    seq_id: str | None = None,
    features: tuple[str, ...] | None = None,
    tokenizer: str = "char",
    vocab_size: int = 96,
    max_len: int = 256,
    arch: str = "lstm",
    hidden: tuple[int, ...] = (64,),
    embed: int = 32,
    dropout: float = 0.0,
    attention: bool = False,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 3e-3,
    clip: float = 1.0,
    patience: int = 5,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    seed: int = 0,
    out: Path = Path("runs/classify"),
    no_export: bool = False,
    quiet: bool = False,
) -> dict:
    """Load, split, train, evaluate; write OUT/checkpoint.pt, OUT/report.json and OUT/model.onnx."""
    if max_len < 1:
        raise UsageError(f"--max-len must be >= 1, got {max_len}")
    dataset = load_dataset(data, text=text, label=label, seq_id=seq_id, features=features)
    if len(dataset.labels) < 2:
        raise DataError(
            f"--label has {len(dataset.labels)} distinct value(s); classification needs at least 2"
        )
    idx = split_indices(dataset.y, val_frac, test_frac, seed)
    (tr, va, te), fields, data_notes = prepare(dataset, idx, tokenizer, vocab_size, max_len)
    if not len(tr[1]):
        raise DataError("no non-empty training sequences; check --text / --data")
    token = dataset.kind == "text"
    config = ClassifierConfig(
        arch=arch,
        n_features=1 if token else len(dataset.features),
        vocab_size=data_notes["vocab_size"] if token else 0,
        embed=embed,
        hidden=hidden,
        n_classes=len(dataset.labels),
        dropout=dropout,
        attention=attention,
    )
    torch.manual_seed(seed)
    model = Classifier(config)
    result = train_classifier(
        model, tr, va, TrainConfig(epochs, batch_size, lr, clip, patience, seed, quiet)
    )
    labels = dataset.labels
    test = metrics(predict(model, te[0]), te[1], labels)
    majority = int(np.bincount(tr[1], minlength=len(labels)).argmax())
    baseline = {
        "class": labels[majority],
        "test_accuracy": float((te[1] == majority).mean()) if len(te[1]) else None,
    }
    split_sizes = {"train": len(tr[1]), "val": len(va[1]), "test": len(te[1])}
    fields.update(
        {
            "labels": list(labels),
            "window": max_len,
            "provenance": {
                "data": {
                    "source": dataset.source,
                    "kind": dataset.kind,
                    "sequences": split_sizes,
                    "split": "seeded stratified shuffle of whole sequences",
                    **data_notes,
                },
                "metrics": {
                    "test_accuracy": test.get("accuracy"),
                    "majority_baseline": baseline["test_accuracy"],
                },
                "model": {
                    "arch": arch,
                    "hidden": list(config.hidden),
                    "embed": embed if token else None,
                    "attention": attention,
                },
            },
        }
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": str(save_classifier(out / "checkpoint.pt", model, fields))}
    report = {
        "task": "classify",
        "kind": dataset.kind,
        "arch": arch,
        "layers": list(config.hidden),
        "labels": list(labels),
        "data": fields["provenance"]["data"],
        "metrics": {"test": test, "val": metrics(predict(model, va[0]), va[1], labels)},
        "baseline": {"majority": baseline},
        "training": {
            "epochs_run": len(result.history),
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "history": result.history,
        },
        "config": {
            "model": config.to_dict(),
            "tokenizer": tokenizer if token else None,
            "max_len": max_len,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
        },
        "files": files,
    }
    if not no_export:
        t0 = time.perf_counter()
        sig = export_classifier(model, fields, out / "model.onnx")
        files["onnx"] = str(out / "model.onnx")
        report["export"] = {"parity": sig.parity, "seconds": round(time.perf_counter() - t0, 1)}
    files["report"] = str(out / "report.json")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
