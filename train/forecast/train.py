"""``train_forecast``: data -> trained forecaster -> checkpoint.pt, report.json, report.png,
model.onnx.

The report's figures are what streaming gives (``edgernn.train.forecast.evaluate``): the
exported graph, run by the runtime over every series from its first row, each split's rows
scored, next to the naive, seasonal naive and seasonal autoregression baselines on the same rows.

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
from edgernn.train.forecast.evaluate import Streamed, score, stream_forecasts
from edgernn.train.forecast.export import export_checkpoint
from edgernn.train.forecast.fit import fit, predict, seed_everything, stream_predict
from edgernn.train.forecast.gradients import gradients_report, input_sensitivity
from edgernn.train.forecast.model import LINEAR, Forecaster, ForecasterConfig
from edgernn.train.forecast.report import plot, skill, warnings, write_json
from edgernn.train.forecast.windows import Dataset, prepare_data, sliding_windows
from edgernn.train.loop import History, TrainResult
from edgernn.train.progress import show_start, start_line

UNITS = (
    "user units: each row's forecast, made by streaming every series from its first row with the "
    "state carried (as `edgernn stream` does), vs the row's value"
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
    model = build_model(cfg, data)
    show_start(start_line("forecast", model, **_start_facts(cfg, data)), cfg.quiet)
    history = fit(model, data, cfg)
    result = TrainResult(model, history, data=data)
    _write(result, cfg)
    result.metrics = result.report["metrics"]
    return result


def build_model(cfg: TrainConfig, data: Dataset) -> Forecaster:
    """The forecaster ``cfg`` and the data's plan describe; its highway starts as the
    least-squares autoregression over the training rows."""
    plan = data.plan
    assert plan is not None
    model = Forecaster(
        ForecasterConfig(
            cfg.arch,
            len(data.features),
            len(data.targets),
            () if cfg.arch == LINEAR else cfg.hidden,
            cfg.dropout,
            norm=cfg.norm,
            bidirectional=cfg.bidirectional,
            attention=cfg.attention,
            lags=plan.lags,
            target_cols=plan.target_cols,
            delta=plan.target_mode == "delta",
        )
    )
    if model.highway is not None:
        model.highway.fit_least_squares(data.train_targets())
    return model


def _start_facts(cfg: TrainConfig, data: Dataset) -> dict:
    """What the first line says of the data, the model and the plan."""
    plan = data.plan
    assert plan is not None
    arch = cfg.arch if cfg.arch == LINEAR else f"{cfg.arch} " + ",".join(map(str, cfg.hidden))
    if plan.lags:
        arch += f" + linear highway on lags {','.join(map(str, plan.lags))}"
    stateful = plan.train_mode == "stateful"
    return {
        "rows": sum(data.rows.values()),
        "series": data.n_series,
        "examples": data.rows["train"] if stateful else len(data.parts["train"]),
        "examples_unit": f"rows, streamed in {cfg.bptt}-step chunks" if stateful else "windows",
        "arch": arch,
        "plan": f"{plan.target_mode} targets, up to {cfg.epochs} epochs",
    }


def torch_forecasts(model: Forecaster, data: Dataset, window: int) -> list[np.ndarray]:
    """``evaluate.stream_forecasts`` with the PyTorch model: the figures the checkpoint and the
    graph's provenance carry (the graph matches them within the export's 1e-5). A window model
    forecasts each row from the ``window`` rows before it."""
    out = []
    for i, s in enumerate(data.series):
        x = data.scaled(i)  # (N, F)
        if model.causal:
            pred = stream_predict(model, x)  # (N, K), row 0 NaN
        else:
            pred = np.full(s.y.shape, np.nan, np.float32)
            w = sliding_windows(x, window)[:-1]  # (N - W, W, F): the window before row i
            if len(w):
                pred[window:] = predict(model, np.ascontiguousarray(w))[:, -1]
        out.append(data.target_scaler.inverse(pred).astype(np.float64))
    return out


def _write(result: TrainResult, cfg: TrainConfig) -> None:
    """OUT/report.png, OUT/checkpoint.pt, OUT/report.json and (``cfg.export``) OUT/model.onnx;
    the report's figures from streaming the exported graph (the PyTorch model streamed the
    same way when nothing is exported)."""
    model, history, data = result.model, result.history, result.data
    val = data.parts["val"]
    gradients = gradients_report(history, input_sensitivity(model, val.x, val.y))
    cfg.out.mkdir(parents=True, exist_ok=True)
    streamed = score(data, torch_forecasts(model, data, data.plan.window))
    report = build_report(cfg, data, history, streamed, gradients=gradients)
    fields = build_fields(cfg, data, report)
    files = result.files
    files["checkpoint"] = save_checkpoint(
        cfg.out / "checkpoint.pt", model, fields, cfg.to_dict(), report["metrics"]
    )
    if cfg.export:
        onnx, report_json = cfg.out / "model.onnx", cfg.out / "report.json"
        files["onnx"] = _export(files["checkpoint"], onnx, report, report_json)
        streamed = score(data, stream_forecasts(files["onnx"], data))
        report.update(_figures(streamed))
        report["evaluated_with"] = "the exported graph, streamed by the runtime (model.onnx)"
    png = cfg.out / "report.png"
    skipped = plot(png, history, streamed, data, gradients)
    report["files"]["report_png"] = None if skipped else "report.png"
    report["notes"] += [skipped] if skipped else []
    report["warnings"] = warnings(report)
    files["report"] = write_json(cfg.out / "report.json", report)
    if not skipped:
        files["report_png"] = png
    result.report = report


def _figures(streamed: Streamed) -> dict:
    """The report's figures: the model's, and each baseline's, per split."""
    test, base = streamed.scores["test"], streamed.baseline_scores
    return {
        "metrics": streamed.scores,
        "baseline": base,
        "skill_vs_naive": skill(test, base["naive_last_value"]["test"]),
        "beats_naive": test["mse"] < base["naive_last_value"]["test"]["mse"],
        "beats_seasonal_ar": test["mae"] < base["seasonal_ar"]["test"]["mae"],
    }


def build_report(
    cfg: TrainConfig,
    data: Dataset,
    history: History,
    streamed: Streamed,
    gradients: dict | None = None,
) -> dict:
    """report.json: streamed metrics per split next to the baselines on the same rows, the
    plan (season, lags, target mode), data and training facts, the gradient diagnostics."""
    plan = data.plan
    assert plan is not None
    return {
        "task": "forecast",
        "arch": cfg.arch,
        "layers": [] if cfg.arch == LINEAR else list(cfg.hidden),
        "features": list(data.features),
        "targets": list(data.targets),
        "window": plan.window,
        "units": UNITS,
        **_figures(streamed),
        "evaluated_with": "the PyTorch model, streamed (not exported: --no-export)",
        "scored_rows": streamed.rows,
        "model": {
            "train_mode": plan.train_mode,
            "bptt": cfg.bptt if plan.train_mode == "stateful" else None,
            "target_mode": plan.target_mode,
            "highway_lags": list(plan.lags),
            "season": plan.season,
            "season_source": plan.season_source,
            "trend_ratio": round(plan.trend, 3),
            "autoregression": streamed.baselines.to_dict(),
        },
        "data": {
            "source": data.source,
            "series": data.n_series,
            "rows": data.rows,
            "windows": {p: len(w) for p, w in data.parts.items()},
            "scaler": cfg.scaler,
            "test_outside_train_range": round(_outside(data), 4),
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
        "files": {"checkpoint": "checkpoint.pt", "report_png": None, "onnx": None},
        "notes": list(plan.notes),
        "config": cfg.to_dict(),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def build_fields(cfg: TrainConfig, data: Dataset, report: dict) -> dict:
    """The signature fields known at training time (names as in ``edgernn.signature.Signature``)."""
    plan = data.plan
    assert plan is not None
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
            "seasonal_ar_test": _overall(report["baseline"]["seasonal_ar"]["test"]),
        },
        "versions": report["versions"],
        "created": report["created"],
        "seed": cfg.seed,
        "model": {
            "norm": cfg.norm,
            "bidirectional": cfg.bidirectional,
            "attention": cfg.attention,
            "train_mode": plan.train_mode,
            "target_mode": plan.target_mode,
            "highway_lags": list(plan.lags),
            "season": plan.season,
        },
    }
    return {
        "task": "forecast",
        "arch": cfg.arch,
        "layers": () if cfg.arch == LINEAR else tuple(cfg.hidden),
        "features": tuple(data.features),
        "targets": tuple(data.targets),
        "input_scaler": data.input_scaler,
        "target_scaler": data.target_scaler,
        "window": plan.window,
        "anomaly_threshold": float(cfg.anomaly_threshold),
        "calendar": tuple(cfg.calendar),  # its columns end the features; the runtime computes them
        "provenance": provenance,
    }


def _outside(data: Dataset) -> float:
    """The share of test values (every target) outside the range of their training rows."""
    out = count = 0
    for s, (a, b) in zip(data.series, data.bounds):
        low, high = s.y[:a].min(axis=0), s.y[:a].max(axis=0)  # (K,)
        test = s.y[b:]
        out += int(((test < low) | (test > high)).sum())
        count += test.size
    return out / max(count, 1)


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
    """Export the saved checkpoint; the outcome goes into ``report`` (written to report.json at
    once when the export fails; the caller writes it otherwise)."""
    try:
        sig = export_checkpoint(ckpt, onnx)
    except ExportError as e:
        report["export"] = {"error": str(e)}
        write_json(report_json, report)
        raise
    report["files"]["onnx"] = onnx.name
    report["export"] = {"parity": getattr(sig, "parity", {})}
    return onnx
