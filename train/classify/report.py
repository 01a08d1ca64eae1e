"""A classifier's report.png: training curves, the test confusion matrix and per-class
precision / recall next to the majority baseline; and the k-fold summary.

>>> s = fold_summary([{"fold": 1, "n": 4, "accuracy": 0.5}, {"fold": 2, "n": 4, "accuracy": 1.0}])
>>> s["k"], s["accuracy_mean"], s["accuracy_std"], len(s["per_fold"])
(2, 0.75, 0.25, 2)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fold_summary(rows: list[dict]) -> dict:
    """Mean and (population) standard deviation of the folds' test accuracy, and each fold."""
    acc = np.array([r["accuracy"] for r in rows], dtype=np.float64)
    return {
        "k": len(rows),
        "accuracy_mean": round(float(acc.mean()), 4),
        "accuracy_std": round(float(acc.std()), 4),
        "per_fold": rows,
    }


def plot(path: Path, report: dict) -> str | None:
    """Loss / accuracy per epoch, the test confusion matrix (rows: true class) and per-class
    precision / recall into ``path``; why it was skipped, or None."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib); report.png was not written"
    test, labels = report["metrics"]["test"], report["labels"]
    rows = report["training"]["history"]
    fig = Figure(figsize=(14, 4.5), layout="constrained")
    ax_loss, ax_cm, ax_pr = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in rows]
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train loss")
    if any(r.get("val_loss") is not None for r in rows):
        ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="val loss")
        ax_loss.plot(epochs, [r["val_accuracy"] for r in rows], label="val accuracy")
    ax_loss.axvline(report["training"]["best_epoch"], color="grey", linestyle=":", label="kept")
    ax_loss.set_xlabel("epoch")
    ax_loss.legend()
    ax_loss.set_title("training")
    if test.get("n"):
        cm = np.array(test["confusion"])  # (C, C), rows true
        ax_cm.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax_cm.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ticks = range(len(labels))
        ax_cm.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
        ax_cm.set_yticks(ticks, labels, fontsize=8)
        ax_cm.set_xlabel("predicted")
        ax_cm.set_ylabel("true")
        base = report["baseline"]["majority"]["test_accuracy"]
        ax_cm.set_title(f"test: accuracy {test['accuracy']:.3f} (majority {base:.3f})")
        per = [test["per_class"][k] for k in labels]
        x = np.arange(len(labels))
        ax_pr.bar(x - 0.2, [p["precision"] or 0 for p in per], 0.4, label="precision")
        ax_pr.bar(x + 0.2, [p["recall"] or 0 for p in per], 0.4, label="recall")
        ax_pr.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
        ax_pr.set_ylim(0, 1.05)
        ax_pr.legend()
        ax_pr.set_title("per class (test)")
    fig.savefig(path, dpi=80)
    return None


def summary_lines(report: dict) -> list[str]:
    """The per-class and k-fold lines of the command's closing text."""
    lines = []
    test = report["metrics"]["test"]
    for name, p in (test.get("per_class") or {}).items():
        pr = "n/a" if p["precision"] is None else f"{p['precision']:.3f}"
        rc = "n/a" if p["recall"] is None else f"{p['recall']:.3f}"
        lines.append(f"  {name}: precision {pr}  recall {rc}  (n={p['n']})")
    folds = report.get("folds")
    if folds:
        each = ", ".join(f"{r['accuracy']:.3f}" for r in folds["per_fold"])
        lines.append(
            f"{folds['k']}-fold accuracy {folds['accuracy_mean']:.3f} ± "
            f"{folds['accuracy_std']:.3f} (per fold: {each})"
        )
    return lines
