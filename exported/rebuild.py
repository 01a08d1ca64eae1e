"""Rebuild the shipped default model and its golden outputs, from nothing but this repo.

    pip install "torch==2.13.0" -e ".[train]" && python -m edgernn.exported.rebuild

Trains ``sensor-forecast`` with the recipe below (seeded, on the synthetic sensor), exports it
with verified parity, copies ``model.onnx`` and ``checkpoint.pt`` here, and writes
``sensor-forecast.golden.json``: the demo feed's first GOLDEN_STEPS records, the PyTorch
checkpoint's forecasts for them (full sequence, independent of ONNX Runtime) and the runtime's
anomaly scores and flags. ``tests/runtime/test_golden.py`` holds the runtime to them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NAME = "sensor-forecast"
GOLDEN_STEPS = 400
RECIPE = [  # edgernn train forecast ...
    "--data", "synth:sensor?n=20000&seed=0", "--features", "temp,humidity", "--target", "temp",
    "--window", "50", "--arch", "lstm", "--hidden", "32,32", "--epochs", "30", "--seed", "0",
    "--out", f"runs/{NAME}",
]


def train() -> Path:
    from click.testing import CliRunner

    from edgernn.cli import main

    result = CliRunner().invoke(main, ["train", "forecast", *RECIPE], catch_exceptions=False)
    print(result.stdout, result.stderr, sep="\n")
    if result.exit_code != 0:
        raise SystemExit(result.exit_code)
    out = Path(RECIPE[RECIPE.index("--out") + 1])
    shutil.copy(out / "model.onnx", HERE / f"{NAME}.onnx")
    shutil.copy(out / "checkpoint.pt", HERE / f"{NAME}.pt")
    shutil.copy(out / "report.json", HERE / f"{NAME}.report.json")
    return HERE / f"{NAME}.pt"


def golden(checkpoint: Path) -> dict:
    import torch

    import edgernn
    from edgernn.sources import demo_records
    from edgernn.train.checkpoint import load_checkpoint
    from edgernn.train.models import native_kernels

    model = edgernn.load(HERE / f"{NAME}.onnx", provider="cpu")
    sig = model.signature
    records = [r for _, r in demo_records(GOLDEN_STEPS)]
    rows = np.array([[r[f] for f in sig.features] for r in records], dtype=np.float32)  # (T, F)
    ckpt = load_checkpoint(checkpoint)
    with native_kernels(), torch.no_grad():
        y = ckpt.model(torch.from_numpy(sig.input_scaler.transform(rows)[None]))[0][0].numpy()  # (T, K)
    s = model.stream()
    steps = [s.step(r) for r in rows]
    return {
        "model_id": model.model_id,
        "features": list(sig.features),
        "targets": list(sig.targets),
        "inputs": rows.tolist(),
        "torch_forecast": sig.target_scaler.inverse(y).tolist(),
        "anomaly_score": [r.anomaly_score for r in steps],
        "anomaly": [r.anomaly for r in steps],
    }


def main() -> None:
    checkpoint = train()
    path = HERE / f"{NAME}.golden.json"
    path.write_text(json.dumps(golden(checkpoint)) + "\n")
    print(f"wrote {HERE / (NAME + '.onnx')} and {path}")


if __name__ == "__main__":
    main()
