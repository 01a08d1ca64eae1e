"""``train_forecast``: data -> trained forecaster -> checkpoint.pt, report.json, report.png,
model.onnx.

>>> cfg = TrainConfig(data="synth:sensor?n=600", window=10, hidden=(8,), epochs=1,
...                   out=Path(tempfile.mkdtemp()), export=False, quiet=True)
>>> r = train_forecast(cfg)
>>> sorted(r.report["metrics"]), r.files["checkpoint"].name
(['test', 'train', 'val'], 'checkpoint.pt')
"""

from __future__ import annotations

import platform
import tempfile  # noqa: F401  (used by the doctest)
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edgernn import __version__
from edgernn.errors import ExportError
from edgernn.train.checkpoint import save_checkpoint
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.export import export_checkpoint
from edgernn.train.forecast.fit import fit, predict, seed_everything
from edgernn.train.forecast.gradients import gradients_report, input_sensitivity
from edgernn.train.forecast.model import Forecaster, ForecasterConfig
from edgernn.train.forecast.report import metrics, plot, skill, write_json
from edgernn.train.forecast.windows import Dataset, prepare_data
from edgernn.train.loop import History, TrainResult
from edgernn.train.progress import show_start, start_line

UNITS = (
    "user units (inverse-scaled): each window's forecast at its last step vs the true next value"
)
BAD_ROWS = (
    "refused: a non-numeric, empty, NaN or infinite feature/target cell stops training with its "
    "line and column"
)


def run_forecast(**options) -> dict:
    """The ``edgernn train forecast`` command: ``options`` are ``TrainConfig``'s fields; trains,
    writes OUT (checkpoint.pt, report.json, report.png, model.onnx) and returns report.json."""
    return train_forecast(TrainConfig(**options)).report


def train_forecast(cfg: TrainConfig) -> TrainResult:
    """Train a forecaster as ``cfg`` says and write its checkpoint, report (and ONNX) into
    cfg.out."""
    seed_everything(cfg.seed)
    data = prepare_data(cfg)
    model = Forecaster(
        ForecasterConfig(
            cfg.arch,
            len(data.features),
            len(data.targets),
            cfg.hidden,
            cfg.dropout,
            norm=cfg.norm,
            bidirectional=cfg.bidirectional,
            attention=cfg.attention,
        )
    )
    show_start(
        start_line(
            "forecast",
            model,
            rows=sum(data.rows.values()),
            series=data.n_series,
            examples=len(data.parts["train"]),
            arch=f"{cfg.arch} " + ",".join(map(str, cfg.hidden)),
            plan=f"up to {cfg.epochs} epochs",
        ),
        cfg.quiet,
    )
    history = fit(model, data.parts["train"], data.parts["val"], cfg)
    result = TrainResult(model, history, data=data)
    _write(result, cfg)
    result.metrics = result.report["metrics"]
    return result


def _write(result: TrainResult, cfg: TrainConfig) -> None:
    """OUT/report.png, OUT/checkpoint.pt, OUT/report.json and (``cfg.export``) OUT/model.onnx."""
    model, history, data = result.model, result.history, result.data
    preds = {
        p: data.target_scaler.inverse(predict(model, w.x)[:, -1]).astype(np.float64)
        for p, w in data.parts.items()
    }
    val, test = data.parts["val"], data.parts["test"]
    gradients = gradients_report(history, input_sensitivity(model, val.x, val.y))
    cfg.out.mkdir(parents=True, exist_ok=True)
    png = cfg.out / "report.png"
    skipped = plot(
        png, history, preds["test"], test.actual, data.targets, gradients, series=test.series
    )
    report = build_report(cfg, data, history, preds, png_skipped=skipped, gradients=gradients)
    fields = build_fields(cfg, data, report)
    files = result.files
    files["checkpoint"] = save_checkpoint(
        cfg.out / "checkpoint.pt", model, fields, cfg.to_dict(), report["metrics"]
    )
    files["report"] = write_json(cfg.out / "report.json", report)
    if not skipped:
        files["report_png"] = png
    result.report = report
    if cfg.export:
        files["onnx"] = _export(
            files["checkpoint"], cfg.out / "model.onnx", report, files["report"]
        )


def build_report(
    cfg: TrainConfig,
    data: Dataset,
    history: History,
    preds: dict,
    png_skipped: str | None,
    gradients: dict | None = None,
) -> dict:
    """report.json: metrics per split, the naive baseline on the same windows, data and training
    facts, and the gradient diagnostics (``edgernn.train.forecast.gradients.gradients_report``)."""
    scores = {p: metrics(preds[p], w.actual, data.targets) for p, w in data.parts.items()}
    naive = {
        p: metrics(data.parts[p].current, data.parts[p].actual, data.targets)
        for p in ("val", "test")
    }
    return {
        "task": "forecast",
        "arch": cfg.arch,
        "layers": list(cfg.hidden),
        "features": list(data.features),
        "targets": list(data.targets),
        "window": cfg.window,
        "units": UNITS,
        "metrics": scores,
        "baseline": {"naive_last_value": naive},
        "skill_vs_naive": skill(scores["test"], naive["test"]),
        "beats_naive": scores["test"]["mse"] < naive["test"]["mse"],
        "data": {
            "source": data.source,
            "series": data.n_series,
            "rows": data.rows,
            "windows": {p: len(w) for p, w in data.parts.items()},
            "scaler": cfg.scaler,
            "bad_rows": BAD_ROWS,
        },
        "training": {
            "epochs_run": history.epochs_run,
            "best_epoch": history.best_epoch,
            "stopped_early": history.stopped_early,
            "history": {
                "train_loss": history.train_loss,
                "val_loss": history.val_loss,
                "lr": history.lr,
            },
        },
        "gradients": gradients if gradients is not None else gradients_report(history, []),
        "files": {
            "checkpoint": "checkpoint.pt",
            "report_png": None if png_skipped else "report.png",
            "onnx": None,
        },
        "notes": [png_skipped] if png_skipped else [],
        "config": cfg.to_dict(),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def build_fields(cfg: TrainConfig, data: Dataset, report: dict) -> dict:
    """The signature fields known at training time (names as in ``edgernn.signature.Signature``)."""
    provenance = {
        "data": {
            **data.source,
            "series": data.n_series,
            "key": cfg.key,
            "timestamp": cfg.timestamp,
        },
        "rows": data.rows,
        "windows": report["data"]["windows"],
        "metrics": {
            "test": _overall(report["metrics"]["test"]),
            "naive_test": _overall(report["baseline"]["naive_last_value"]["test"]),
        },
        "versions": report["versions"],
        "created": report["created"],
        "seed": cfg.seed,
        "model": {"norm": cfg.norm, "bidirectional": cfg.bidirectional, "attention": cfg.attention},
    }
    return {
        "task": "forecast",
        "arch": cfg.arch,
        "layers": tuple(cfg.hidden),
        "features": tuple(data.features),
        "targets": tuple(data.targets),
        "input_scaler": data.input_scaler,
        "target_scaler": data.target_scaler,
        "window": cfg.window,
        "anomaly_threshold": float(cfg.anomaly_threshold),
        "provenance": provenance,
    }


def versions() -> dict:
    return {
        "edgernn": __version__,
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }


def _overall(m: dict) -> dict:
    return {"mse": m["mse"], "mae": m["mae"], "per_target": m["per_target"]}


def _export(ckpt: Path, onnx: Path, report: dict, report_json: Path) -> Path:
    """Export the saved checkpoint; the outcome (or the error) goes into report.json."""
    try:
        sig = export_checkpoint(ckpt, onnx)
    except ExportError as e:
        report["export"] = {"error": str(e)}
        write_json(report_json, report)
        raise
    report["files"]["onnx"] = onnx.name
    report["export"] = {"parity": getattr(sig, "parity", {})}
    write_json(report_json, report)
    return onnx
