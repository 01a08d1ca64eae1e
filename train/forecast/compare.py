"""Architectures side by side at matching sizes: parameters, layers, ONNX file size, step latency
in the runtime, export parity (and, with data, test MSE next to the naive baseline). Behind
``edgernn compare``.

Every entry of ``edgernn.train.forecast.model.ARCHITECTURES`` can be compared. Sizes match:
each uses ``--hidden``, except the deep stack (three layers of decreasing width from the first size,
e.g. 64 -> 64,32,16) and GRU-BN given one size (two layers of it: a norm sits between layers).
Without data every architecture is a random-weight ``Forecaster`` (same seed), exported through
``export_model`` with its parity check. With data each one is trained by ``train_forecast`` (same
config but the architecture) into a temporary folder and its verified export is measured.
Latency is ``edgernn.bench.run.single_stream``: ``Stream.step`` one step per call, interleaved
with a bare ``InferenceSession.run`` loop, CPU provider, one thread; a window model (bilstm) is
timed as it runs live, ``WindowStream.step`` re-running the window, against a bare run over the
window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from onnxruntime import InferenceSession
from torch import nn

import edgernn
from edgernn.bench.cost import flops_per_step
from edgernn.bench.machine import machine
from edgernn.bench.measure import (
    Repeat,
    bare_session,
    interleaved,
    parse_repeat,
    percentiles,
    sample_rows,
)
from edgernn.bench.run import single_stream
from edgernn.errors import UsageError
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.forecast.config import TrainConfig
from edgernn.train.forecast.export import export_model
from edgernn.train.forecast.model import ARCHITECTURES, Forecaster, ForecasterConfig
from edgernn.train.forecast.train import train_forecast

Built = tuple[nn.Module, Path, dict]  # the model, its exported graph, extra row fields
ARCHS = tuple(ARCHITECTURES)  # rnn, lstm, gru, gru-bn, lstm-deep, bilstm, lstm-attn, ...
FIELDS = (
    "arch",
    "layers",
    "hidden",
    "params",
    "onnx_bytes",
    "flops_per_step",
    "step_us",
    "bare_ort_us",
    "parity_max_abs_error",
    "exporter",
)


def parse_archs(text: str) -> tuple[str, ...]:
    """'rnn,lstm' -> ("rnn", "lstm"); a one-line UsageError for an unknown or empty list."""
    archs = tuple(dict.fromkeys(a.strip().lower() for a in text.split(",") if a.strip()))
    bad = [a for a in archs if a not in ARCHS]
    if bad or not archs:
        what = (
            f"unknown architecture {', '.join(map(repr, bad))}" if bad else "no architecture given"
        )
        raise UsageError(
            f"--archs {text!r}: {what}; choose from {', '.join(ARCHS)}, comma-separated"
        )
    return archs


@dataclass(frozen=True)
class CompareConfig:
    """What ``edgernn compare`` builds and measures."""

    archs: tuple[str, ...] = ARCHS  # the ARCHITECTURES entries compared, in order
    hidden: tuple[int, ...] = (64, 64)  # hidden size per layer, the same for every arch
    features: int = 2  # input columns of the random-weight models (with data: the data's)
    steps: int = 2000  # timed Stream.step calls per architecture
    # train each one on this (a train_forecast --data) instead of random weights
    data: str | None = None
    epochs: int = 5  # with data: maximum training epochs
    window: int = 50  # with data: time steps per training window (and every model's window)
    seed: int = 0  # seed of the weights (and of training)

    def __post_init__(self) -> None:
        if self.features < 1:
            raise UsageError(f"--features must be >= 1, got {self.features}")
        if self.steps < 10:
            raise UsageError(f"--steps must be >= 10, got {self.steps}")
        if self.epochs < 1:
            raise UsageError(f"--epochs must be >= 1, got {self.epochs}")


def compare(config: CompareConfig, progress: Callable[[str], None] = lambda _: None) -> dict:
    """Build (or train), export and measure each architecture; the JSON result."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgernn-compare-") as tmp:
        for arch in config.archs:
            progress(
                f"{arch}: {'training' if config.data else 'random weights'}, export, "
                f"{config.steps} steps"
            )
            rows.append(compare_one(arch, config, Path(tmp) / arch))
    return {
        "edgernn": edgernn.__version__,
        "hidden": list(config.hidden),
        "features": rows[0]["features"] if rows else config.features,
        "data": config.data,
        "epochs": config.epochs if config.data else None,
        "steps": config.steps,
        "provider": "cpu",
        "threads": 1,
        "machine": machine(),
        "archs": rows,
    }


def arch_fields(name: str, hidden: tuple[int, ...]) -> dict:
    """The ForecasterConfig fields of registered architecture ``name`` at the compared size."""
    fields = {**ARCHITECTURES[name], "hidden": () if name == "linear" else hidden}
    if name == "lstm-deep":  # n layers of decreasing width
        fields["hidden"] = tuple(max(1, hidden[0] // 2**k) for k in range(3))
    if fields.get("norm", "none") != "none" and len(hidden) < 2:  # the norm sits between two layers
        fields["hidden"] = (hidden[0], hidden[0])
    return fields


def compare_one(arch: str, config: CompareConfig, folder: Path) -> dict:
    """One architecture's row."""
    folder.mkdir(parents=True, exist_ok=True)
    fields = arch_fields(arch, config.hidden)
    model, onnx_path, extra = (_trained if config.data else _random)(fields, config, folder)
    runtime = edgernn.load(onnx_path, provider="cpu", intra_op_threads=1)
    sig = runtime.signature
    rows, repeat = sample_rows(sig, 1024, config.seed), parse_repeat(str(config.steps))
    timing = single_stream if sig.causal else window_stream
    single, _ = timing(runtime, bare_session(runtime), rows, repeat)
    parity = sig.parity or {}
    plain = sig.causal and not fields.get("attention")  # what flops_per_step counts: gates and head
    return {
        "arch": arch,
        "layers": len(fields["hidden"]),
        "hidden": list(fields["hidden"]),
        "features": len(sig.features),
        "params": sum(p.numel() for p in model.parameters()),
        "onnx_bytes": onnx_path.stat().st_size,
        "flops_per_step": flops_per_step(sig) if plain else None,
        "mode": "step" if sig.causal else f"window of {sig.window}",
        "step_us": {k: single["edgernn_us"][k] for k in ("p50", "p99", "mean")},
        "bare_ort_us": {k: single["bare_ort_us"][k] for k in ("p50", "p99", "mean")},
        "parity_max_abs_error": parity.get("max_abs_error"),
        "exporter": parity.get("exporter"),
        **extra,
    }


def window_stream(
    model: edgernn.Model, session: InferenceSession, rows: np.ndarray, repeat: Repeat
) -> tuple[dict, dict]:
    """``WindowStream.step`` (a full window re-run per step) vs a bare run() over the same
    window."""
    sig, live = model.signature, model.window_stream()
    live.steps(rows[: sig.window])  # warmed up: every timed step forecasts
    user = list(rows)
    window = sig.input_scaler.transform(rows[: sig.window])[None]  # (1, W, F) model units
    samples = interleaved(
        {
            "edgernn": lambda i: live.step(user[i % len(user)]),
            "bare_ort": lambda i: session.run(None, {sig.input_name: window}),
        },
        repeat.steps,
        repeat.warmup,
    )
    out = {
        "edgernn_us": percentiles(samples["edgernn"]),
        "bare_ort_us": percentiles(samples["bare_ort"]),
    }
    return out, samples


def _random(fields: dict, config: CompareConfig, folder: Path) -> Built:
    torch.manual_seed(config.seed)
    model = Forecaster(ForecasterConfig(n_features=config.features, n_targets=1, **fields)).eval()
    names = [f"f{i}" for i in range(config.features)]
    signature = {
        "task": "forecast",
        "arch": fields["arch"],
        "layers": list(fields["hidden"]),
        "features": names,
        "targets": names[:1],
        "input_scaler": {
            "kind": "standard",
            "offset": [0.0] * config.features,
            "scale": [1.0] * config.features,
        },
        "target_scaler": {"kind": "standard", "offset": [0.0], "scale": [1.0]},
        "window": config.window,
        "anomaly_threshold": 4.0,
        "provenance": {"data": "random weights (edgernn compare)", "seed": config.seed},
    }
    out = folder / "model.onnx"
    export_model(Checkpoint(model, signature, {}, {}), out)
    return model, out, {}


def train_options(fields: dict) -> dict:
    """ForecasterConfig fields as TrainConfig options: the highway when the entry has lags (the
    season then comes from the data), delta targets when it says so."""
    options = {k: v for k, v in fields.items() if k not in ("lags", "target_cols", "delta")}
    options["highway"] = bool(fields.get("lags"))
    options["target_mode"] = "delta" if fields.get("delta") else "level"
    return options


def _trained(fields: dict, config: CompareConfig, folder: Path) -> Built:
    cfg = TrainConfig(
        data=config.data,
        epochs=config.epochs,
        window=config.window,
        seed=config.seed,
        out=folder,
        quiet=True,
        export=True,
        **train_options(fields),
    )
    r = train_forecast(cfg)
    test, naive = r.report["metrics"]["test"], r.report["baseline"]["naive_last_value"]["test"]
    return (
        r.model,
        r.files["onnx"],
        {
            "test_mse": test["mse"],
            "naive_mse": naive["mse"],
            "skill_vs_naive": r.report["skill_vs_naive"],
            "epochs_run": r.history.epochs_run,
        },
    )


# ---- output ----------------------------------------------------------------------------------
def render(result: dict) -> str:
    """The result as a text table."""
    trained = result["data"] is not None
    head = [
        "arch",
        "layers",
        "mode",
        "params",
        "onnx bytes",
        "step p50 us",
        "step p99 us",
        "bare p50 us",
        "parity err",
    ]
    if trained:
        head += ["test MSE", "naive MSE"]
    rows = []
    for r in result["archs"]:
        row = [
            r["arch"],
            f"{r['layers']} ({','.join(map(str, r['hidden']))})",
            r["mode"],
            f"{r['params']:,}",
            f"{r['onnx_bytes']:,}",
            f"{r['step_us']['p50']:.1f}",
            f"{r['step_us']['p99']:.1f}",
            f"{r['bare_ort_us']['p50']:.1f}",
            "-" if r["parity_max_abs_error"] is None else f"{r['parity_max_abs_error']:.1e}",
        ]
        if trained:
            row += [f"{r['test_mse']:.4g}", f"{r['naive_mse']:.4g}"]
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    what = (
        f"trained on {result['data']} ({result['epochs']} epochs max)"
        if trained
        else "random weights"
    )
    lines = [
        f"compare: hidden {','.join(map(str, result['hidden']))}, {result['features']} feature(s), "
        f"{what}; "
        f"step latency over {result['steps']} steps (Stream.step; window models: "
        "WindowStream.step), CPU, 1 thread",
        fmt(head),
        fmt(["-" * w for w in widths]),
    ]
    return "\n".join(lines + [fmt(r) for r in rows])


def plot(result: dict, path: str | Path) -> Path:
    """Bar chart: parameters, ONNX size and step latency (p50, p99 as error bar) per arch."""
    from matplotlib.figure import Figure

    rows = result["archs"]
    names = [r["arch"] for r in rows]
    colors = [f"C{i}" for i in range(len(rows))]
    trained = result["data"] is not None
    fig = Figure(figsize=(4 * (3 + trained), 3.5), layout="constrained")
    axes = fig.subplots(1, 3 + trained)
    axes[0].bar(names, [r["params"] for r in rows], color=colors)
    axes[0].set_title("parameters")
    axes[1].bar(names, [r["onnx_bytes"] / 1024 for r in rows], color=colors)
    axes[1].set_title("ONNX file size (KiB)")
    p50 = [r["step_us"]["p50"] for r in rows]
    p99 = [r["step_us"]["p99"] for r in rows]
    axes[2].bar(
        names,
        p50,
        color=colors,
        yerr=[[0] * len(rows), [b - a for a, b in zip(p50, p99)]],
        capsize=4,
    )
    axes[2].set_title("step latency (us, p50; bar to p99)")
    axes[2].set_yscale("log")  # a window model re-runs its whole window: orders of magnitude apart
    if trained:
        axes[3].bar(names, [r["test_mse"] for r in rows], color=colors)
        axes[3].axhline(
            rows[0]["naive_mse"], color="black", linestyle="--", label="naive last value"
        )
        axes[3].set_title("test MSE")
        axes[3].legend(loc="upper right")
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=45)
    fig.suptitle(f"hidden {','.join(map(str, result['hidden']))}")
    fig.savefig(path, dpi=100)
    return Path(path)
