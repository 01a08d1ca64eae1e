"""Rebuild ``tiny-classifier.onnx``: a random-weight char-level GRU [8] text classifier, 3 classes.

Exported (and verified) by edgernn's own exporter, so torch-free runtime tests have a small
classify model with a real signature (task, labels, tokenizer). Run from the repository root
with the train extra installed:

    python tests/data/make_tiny_classifier.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgernn.train.classify.export import export_classifier
from edgernn.train.classify.model import Classifier, ClassifierConfig

OUT = Path(__file__).parent / "tiny-classifier.onnx"
VOCAB = ("<unk>", *"abcdefghijklmnopqrstuvwxyz ")

FIELDS = {
    "labels": ["ham", "spam", "eggs"],
    "tokenizer": {"kind": "char", "vocab": list(VOCAB), "unk": "<unk>"},
    "window": 64,
    "provenance": {"data": "none: random weights from tests/data/make_tiny_classifier.py (seed 0)"},
}


def main() -> None:
    torch.manual_seed(0)
    model = Classifier(
        ClassifierConfig(arch="gru", vocab_size=len(VOCAB), embed=4, hidden=(8,), n_classes=3)
    ).eval()
    sig = export_classifier(model, FIELDS, OUT)
    print(
        f"wrote {OUT} (max abs error {sig.parity['max_abs_error']:.1e}, "
        f"exporter {sig.parity['exporter']})"
    )


if __name__ == "__main__":
    main()
