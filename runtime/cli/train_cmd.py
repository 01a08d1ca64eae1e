"""``edgernn train``: train models in PyTorch (the train extra). One subcommand per task.

PyTorch and ``edgernn.train`` are imported inside the subcommands only, so the runtime
CLI never loads them unless training actually runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.cli.common import train_output_options


@click.group("train")
def command() -> None:
    """Train a model (needs the train extra: pip install 'edgernn[train]')."""


@command.command("forecast")
@click.option(
    "--data",
    required=True,
    help="A .csv (with header) or .npy file, or synth:sensor[?n=20000&seed=3].",
)
@click.option(
    "--features",
    help="Input columns, comma-separated. Default: every column but --key/--timestamp.",
)
@click.option(
    "--target",
    help="Columns to forecast, comma-separated (need not be features). Default: the first feature.",
)
@click.option(
    "--columns",
    help="Names for the columns of a .npy file, comma-separated. Default: col0,col1,...",
)
@click.option("--key", help="Column naming independent series (windows never cross keys).")
@click.option("--timestamp", help="Column to sort each series by (numbers or ISO-8601).")
@click.option(
    "--calendar",
    help="Calendar features from --timestamp, comma-separated: hour (time of day), weekday, "
    "yearday. Each adds a sin and a cos input (UTC); the runtime computes them from each "
    "record's timestamp.",
)
@click.option(
    "--window",
    default=0,
    show_default=True,
    help="Time steps per training window; 0: 50, or a quarter of a short training split.",
)
@click.option("--stride", default=1, show_default=True, help="Steps between window starts.")
@click.option(
    "--val",
    "val_frac",
    default=0.15,
    show_default=True,
    help="Share of each series for validation (after train).",
)
@click.option(
    "--test",
    "test_frac",
    default=0.15,
    show_default=True,
    help="Share of each series held out for the test report (its end).",
)
@click.option(
    "--scaler",
    default="standard",
    show_default=True,
    help="standard (mean/std) or minmax, fitted on the training split.",
)
@click.option(
    "--season",
    default="auto",
    show_default=True,
    help="Season length in steps (like 24), auto (from the autocorrelation) or none: the "
    "highway's seasonal lags and the seasonal baselines.",
)
@click.option(
    "--arch",
    default="lstm",
    show_default=True,
    help="rnn, lstm or gru; linear: the highway's autoregression alone.",
)
@click.option(
    "--highway/--no-highway",
    default=True,
    show_default=True,
    help="Add a linear autoregression over lags 1, 2, s, s+1 (LSTNet), kept as streaming state.",
)
@click.option(
    "--target-mode",
    default="auto",
    show_default=True,
    help="level, delta (forecast the change; for trends) or auto (delta when the training "
    "split trends).",
)
@click.option(
    "--train-mode",
    default="auto",
    show_default=True,
    help="stateful (chunks with the state carried, as streaming runs), windows (each window "
    "from a zero state) or auto (stateful from 1,000 training rows, else windows; windows for "
    "--bidirectional).",
)
@click.option(
    "--bptt",
    default=50,
    show_default=True,
    help="Stateful training: steps per chunk.",
)
@click.option(
    "--norm",
    default="none",
    show_default=True,
    help="none, or batch: BatchNorm1d between recurrent layers (--arch gru --norm batch = GRU-BN).",
)
@click.option(
    "--bidirectional",
    is_flag=True,
    help="Forward + backward layers: a window model (not steppable; run it with "
    "model.window_stream()).",
)
@click.option(
    "--attention",
    is_flag=True,
    help="Attention pooling over time before the head (additive score, softmax kept as running "
    "state).",
)
@click.option(
    "--hidden",
    default="64,64",
    show_default=True,
    help="Hidden size per stacked layer, e.g. 50,50,25.",
)
@click.option("--dropout", default=0.0, show_default=True, help="Dropout between recurrent layers.")
@click.option("--epochs", default=100, show_default=True, help="Maximum epochs.")
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    help="Windows per optimiser step (stateful: the most lanes side by side).",
)
@click.option("--lr", default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--clip", default=1.0, show_default=True, help="Max gradient norm (0 = off).")
@click.option(
    "--patience",
    default=10,
    show_default=True,
    help="Early stopping: epochs without val improvement (0 = off).",
)
@click.option(
    "--lr-patience",
    default=2,
    show_default=True,
    help="Halve the lr after this many epochs without val improvement.",
)
@click.option("--seed", default=0, show_default=True, help="Seed for python, numpy and torch.")
@click.option(
    "--anomaly-threshold",
    default=4.0,
    show_default=True,
    help="Residual |z| the runtime flags as an anomaly.",
)
@train_output_options("runs/forecast", "Do not export out/model.onnx.")
def forecast(**opts: Any) -> None:
    """Train a next-step forecaster (RNN / LSTM / GRU) on a time series.

    Writes OUT/checkpoint.pt, OUT/report.json, OUT/report.png and OUT/model.onnx.
    """
    from edgernn.train.options import parse_hidden, parse_names
    from edgernn.train.registry import TASKS

    report = TASKS["forecast"].run(  # report.json, with beats_naive, is written by then
        data=opts["data"],
        features=parse_names(opts["features"], "--features"),
        targets=parse_names(opts["target"], "--target"),
        columns=parse_names(opts["columns"], "--columns"),
        calendar=parse_names(opts["calendar"], "--calendar"),
        hidden=parse_hidden(opts["hidden"]),
        out=Path(opts["out"]),
        export=not opts["no_export"],
        **{k: opts[k] for k in _PLAIN},
    )
    if opts["as_json"]:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_summary(report, Path(opts["out"])))
    for warning in report.get("warnings") or []:
        click.echo(warning, err=True)


_PLAIN = (
    "key",
    "timestamp",
    "window",
    "stride",
    "val_frac",
    "test_frac",
    "scaler",
    "season",
    "highway",
    "target_mode",
    "train_mode",
    "bptt",
    "arch",
    "norm",
    "bidirectional",
    "attention",
    "dropout",
    "epochs",
    "batch_size",
    "lr",
    "clip",
    "patience",
    "lr_patience",
    "seed",
    "anomaly_threshold",
    "quiet",
)


def _summary(report: dict[str, Any], out: Path) -> str:
    """A few human lines: what was trained, the streamed test error next to the baselines,
    files written."""
    t, base = report["metrics"]["test"], report["baseline"]
    tr, model = report["training"], report.get("model", {})
    stop = ", stopped early" if tr["stopped_early"] else ""
    files = [f for f in report["files"].values() if f]
    layers = ",".join(map(str, report["layers"]))
    how = model.get("train_mode", "windows")
    season = model.get("season")
    lines = [
        f"trained {report['arch']} {layers}".rstrip()
        + f" ({how}, {model.get('target_mode', 'level')} targets"
        + (f", season {season} {model.get('season_source')}" if season else "")
        + f"): {tr['epochs_run']} epochs, best {tr['best_epoch']}{stop}",
        f"test, streamed ({t['n']} rows): MAE {t['mae']:.4g}  MSE {t['mse']:.4g}",
    ]
    for name, label in (
        ("naive_last_value", "naive last value"),
        ("seasonal_naive", "seasonal naive"),
        ("seasonal_ar", "seasonal autoregression"),
    ):
        if name in base:
            b = base[name]["test"]
            lines.append(f"  {label}: MAE {b['mae']:.4g}  MSE {b['mse']:.4g}")
    lines.append(f"wrote {', '.join(str(out / f) for f in files)}")
    return "\n".join(lines + [f"note: {x}" for x in report["notes"]])
