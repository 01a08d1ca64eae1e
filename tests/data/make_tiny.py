"""Rebuild the tiny random-weight models the torch-free runtime tests use:

- ``tiny-lstm.onnx``: LSTM [8, 4], 2 features -> 1 target, steppable;
- ``tiny-bilstm.onnx``: bidirectional LSTM [8, 4], a window model (window 12, ``causal=False``,
  no states; tests/core/test_window.py).

Both are exported (and verified) by edgernn's own exporter, so they carry a real signature.
Run from the repository root with the train extra installed:

    python tests/data/make_tiny.py
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgernn.train.checkpoint import Checkpoint
from edgernn.train.forecast.export import export_model
from edgernn.train.forecast.model import Forecaster, ForecasterConfig

HERE = Path(__file__).parent


def signature(window: int) -> dict:
    return {
        "task": "forecast",
        "arch": "lstm",
        "layers": [8, 4],
        "features": ["temp", "humidity"],
        "targets": ["temp"],
        "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
        "target_scaler": {"kind": "standard", "offset": [20.0], "scale": [3.0]},
        "window": window,
        "anomaly_threshold": 4.0,
        "provenance": {"data": "none: random weights from tests/data/make_tiny.py (seed 0)"},
    }


def make(name: str, window: int, bidirectional: bool) -> None:
    torch.manual_seed(0)
    config = ForecasterConfig(
        arch="lstm", n_features=2, n_targets=1, hidden=(8, 4), bidirectional=bidirectional
    )
    out = HERE / name
    sig = export_model(Checkpoint(Forecaster(config).eval(), signature(window), {}, {}), out)
    print(
        f"wrote {out} (max abs error {sig.parity['max_abs_error']:.1e}, "
        f"exporter {sig.parity['exporter']})"
    )


def main() -> None:
    make("tiny-lstm.onnx", window=20, bidirectional=False)
    make("tiny-bilstm.onnx", window=12, bidirectional=True)


if __name__ == "__main__":
    main()
