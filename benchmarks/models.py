"""The benchmark models: RNN, LSTM and GRU at hidden sizes 32, 64, 256 with 1 and 2 layers.

Random weights (seeded), 2 features -> 1 target like the shipped sensor model. Each is built
once into ``benchmarks/.cache/models/`` (gitignored) as three files with the same weights:
``NAME.onnx`` (exported and verified by ``edgernn.train.forecast.export``), ``NAME.pt`` (the
checkpoint, for PyTorch eager) and ``NAME.npz`` (the weights as numpy arrays, for the
numpy cell). Needs the train extra.

    python benchmarks/models.py          # build (or reuse) all 18, print their names
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).parent / ".cache" / "models"
ARCHS = ("rnn", "lstm", "gru")
HIDDEN = (32, 64, 256)
DEPTHS = (1, 2)
HEADLINE = ("lstm", 64, 2)  # the model the targets are stated for
SIGNATURE = {
    "task": "forecast",
    "features": ["temp", "humidity"],
    "targets": ["temp"],
    "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
    "target_scaler": {"kind": "standard", "offset": [20.0], "scale": [3.0]},
    "window": 50,
    "anomaly_threshold": 4.0,
    "provenance": {"data": "random weights for benchmarks"},
}


@dataclass(frozen=True)
class BenchModel:
    arch: str
    hidden: int
    depth: int

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.depth}x{self.hidden}"

    @property
    def label(self) -> str:
        return f"{self.arch.upper()} {self.depth}x{self.hidden}"

    def path(self, ext: str) -> Path:
        return CACHE / f"{self.name}.{ext}"


def grid(quick: bool = False) -> list[BenchModel]:
    """Every architecture x hidden size x depth (quick: 2 layers only)."""
    depths = (2,) if quick else DEPTHS
    return [BenchModel(a, h, d) for a, h, d in itertools.product(ARCHS, HIDDEN, depths)]


def headline() -> BenchModel:
    return BenchModel(*HEADLINE)


def ensure(m: BenchModel) -> BenchModel:
    """Build ``m``'s three files unless they are all there already."""
    if all(m.path(ext).exists() for ext in ("onnx", "pt", "npz")):
        return m
    import numpy as np
    import torch

    from edgernn.train.checkpoint import Checkpoint, save_checkpoint
    from edgernn.train.export.config import ExportConfig
    from edgernn.train.forecast.export import export_model
    from edgernn.train.forecast.model import Forecaster, ForecasterConfig

    CACHE.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1000 + ARCHS.index(m.arch) * 100 + m.hidden + m.depth)
    hidden = (m.hidden,) * m.depth
    net = Forecaster(ForecasterConfig(arch=m.arch, n_features=2, n_targets=1, hidden=hidden)).eval()
    signature = SIGNATURE | {"arch": m.arch, "layers": list(hidden)}
    export_model(
        Checkpoint(net, signature, {}, {}), m.path("onnx"), ExportConfig(exporters=("torchscript",))
    )
    save_checkpoint(m.path("pt"), net, signature, {"seeded": True}, {})
    np.savez(
        m.path("npz"), arch=np.array(m.arch), **{k: v.numpy() for k, v in net.state_dict().items()}
    )
    return m


if __name__ == "__main__":
    for m in grid():
        print(ensure(m).path("onnx"))
