"""What a trained classifier's report.json says: the test figures from the exported graph
streamed as ``edgernn classify`` runs it, the metrics of each split, the majority baseline,
the training history and the signature's provenance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import edgernn
from edgernn.tasks.classify import ClassifierStream
from edgernn.train.classify.batches import metrics, predict
from edgernn.train.classify.data import Dataset
from edgernn.train.classify.epochs import Split
from edgernn.train.classify.model import Classifier
from edgernn.train.loop import History


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
    val_classes = sorted({labels[c] for c in va[1]})
    split = "seeded stratified shuffle of whole sequences"
    token = bool(config.vocab_size)
    fields["labels"], fields["window"] = list(labels), settings["max_len"]
    fields["provenance"] = {
        "data": {
            "source": dataset.source,
            "kind": dataset.kind,
            "sequences": sizes,
            "split": split,
            "val_classes": len(val_classes),
            **dataset.notes,
            **notes,
        },
        "metrics": {
            "test_accuracy": test.get("accuracy"),
            "majority_baseline": baseline["test_accuracy"],
        },
        "model": {
            "arch": config.arch,
            "kernel": config.kernel if config.arch == "tcn" else None,
            "hidden": list(config.hidden),
            "embed": config.embed if token else None,
            "attention": config.attention,
            "max_pool": config.max_pool,
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
