"""What an ``edgernn train`` command leaves in its OUT folder: checkpoint.pt, the exported
model.onnx (and any files next to it) and report.json, whose ``files`` names them all.
Shared by the char LM, classifier and seq2seq commands (a forecaster also draws report.png:
``edgernn.train.forecast.train``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from torch import nn

from edgernn.train.checkpoint import save_checkpoint

# OUT/model.onnx -> (files written, by name; what report.json records under "export")
Exporter = Callable[[Path], tuple[dict[str, str], dict]]


def publish(
    out: Path, kind: str, model: nn.Module, fields: dict, report: dict, export: Exporter | None
) -> dict:
    """Save OUT/checkpoint.pt (a ``kind`` checkpoint of ``model`` with signature ``fields``),
    export OUT/model.onnx unless ``export`` is None (its time recorded), then write
    OUT/report.json: ``report`` with ``files`` and ``export`` added. Returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"checkpoint": str(save_checkpoint(out / "checkpoint.pt", model, fields, kind=kind))}
    report["files"] = files
    if export is not None:
        t0 = time.perf_counter()
        written, record = export(out / "model.onnx")
        files.update(written)
        report["export"] = {**record, "seconds": round(time.perf_counter() - t0, 1)}
    files["report"] = str(out / "report.json")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
