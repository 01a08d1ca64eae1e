"""Rebuild ``tiny-bilstm.onnx``: a random-weight bidirectional LSTM [8, 4], 2 features -> 1 target.

A window model (window 12, ``causal=False``, no states) exported and verified by edgernn's own
exporter, so torch-free runtime tests (tests/runtime/test_window.py) have one with a real
signature. Run from the repository root with the train extra installed:

    python tests/data/make_tiny_bilstm.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export import export_model
from edgernn.train.models import Forecaster, ForecasterConfig

OUT = Path(__file__).parent / "tiny-bilstm.onnx"

SIGNATURE = {
    "task": "forecast",
    "arch": "lstm",
    "layers": [8, 4],
    "features": ["temp", "humidity"],
    "targets": ["temp"],
    "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
    "target_scaler": {"kind": "standard", "offset": [20.0], "scale": [3.0]},
    "window": 12,
    "anomaly_threshold": 4.0,
    "provenance": {"data": "none: random weights from tests/data/make_tiny_bilstm.py (seed 0)"},
}


def main() -> None:
    torch.manual_seed(0)
    config = ForecasterConfig(arch="lstm", n_features=2, n_targets=1, hidden=(8, 4), bidirectional=True)
    model = Forecaster(config).eval()
    sig = export_model(Checkpoint(model, SIGNATURE, {}, {}), OUT)
    print(f"wrote {OUT} (max abs error {sig.parity['max_abs_error']:.1e}, exporter {sig.parity['exporter']})")


if __name__ == "__main__":
    main()
