"""Padded batches of variable-length sequences, final-step predictions and the metrics of a
classifier.

>>> x, lengths = pad_batch([np.ones((2, 1), np.float32), np.ones((3, 1), np.float32)], token=False)
>>> tuple(x.shape), lengths.tolist()
((2, 3, 1), [2, 3])
>>> metrics(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]), ("a", "b"))["accuracy"]
0.5
"""

from __future__ import annotations

import numpy as np
import torch

from edgernn.train.cells import native_kernels
from edgernn.train.classify.model import Classifier


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
    """Accuracy, cross-entropy, per-class precision / recall and the confusion matrix (rows:
    true)."""
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
