"""QUALITY.md from the quality benchmark's results: the machine, the command, one table per
series, the char LM row, and (with matplotlib) one PNG per series of its test span.

>>> fmt(1234.5678), fmt(0.012344), fmt(None), fmt(float("nan"))
('1235', '0.01234', '-', '-')
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import quality_forecast as qf

import edgernn


def fmt(v: float | None) -> str:
    """Four significant digits, '-' for missing."""
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def machine() -> dict[str, str]:
    """CPU model, cores, Python, onnxruntime and torch versions."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load average at the end": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "edgernn": edgernn.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch_version,
    }


def series_table(r: qf.SeriesResult) -> list[str]:
    """The markdown lines of one series' section."""
    from quality_data import SERIES

    spec = SERIES[r.name]
    run = r.trained
    lines = [
        f"### {r.name}",
        "",
        f"{spec.source}, {spec.freq}, units: {spec.units}. Rows train / val / test: "
        f"{' / '.join(map(str, r.rows))}. Season: s = {r.season} known ({spec.season_why}), "
        f"s = {r.season_detected} detected from the training span's autocorrelation"
        f"{'' if r.season == r.season_detected else ' (differs: both AR fits shown)'}."
        + (f" Data: {r.note}." if r.note else ""),
        "",
    ]
    d = r.defaults
    if d.report is None:
        lines += [f"**The defaults refused the data** (exit {d.returncode}, {d.seconds:.1f} s): "]
        lines += ["", f"    {d.error}", ""]
        if r.fallback is not None:
            f = r.fallback
            w = f.command[f.command.index("--window") + 1]
            state = "trained" if f.report is not None else f"failed too: {f.error}"
            lines += [
                f"So the model below is **not the defaults**: the same command with `--window {w}`"
                f" (the largest every split can hold) {state}.",
                "",
            ]
    ar_mae = r.scores["seasonal AR"][0]
    model_mae = r.scores.get("model (streamed)", (None, None))[0]
    lines += ["| forecaster | test MAE | test RMSE |", "|---|---:|---:|"]
    for name, (mae, rmse) in r.scores.items():
        lines.append(f"| {name} | {fmt(mae)} | {fmt(rmse)} |")
    lines.append("")
    if run is not None:
        beats = verdict(model_mae, ar_mae)
        lines += [
            f"- training: {run.seconds:.1f} s wall "
            f"({run.report['training']['epochs_run']} epochs"
            f"{', stopped early' if run.report['training']['stopped_early'] else ''})"
            f"{'' if run.seconds < 300 else ' - over the 5-minute target'}",
            f"- report.json test MAE: {fmt(r.report_mae)} on its {r.report_n} test rows "
            f"({run.report.get('evaluated_with', 'windows from a zero state')}); this benchmark's "
            f"own streaming of the model on those same last {r.report_n} rows: "
            f"{fmt(r.streamed_mae_same_rows)}",
            f"- how it was trained: {_how(run.report)}",
            f"- beats seasonal AR? **{beats}** (MAE {fmt(model_mae)} vs "
            f"{fmt(ar_mae)}{'' if d.report is not None else ', not with the defaults'})",
        ]
    else:
        lines.append("- no model: beats seasonal AR? **no**")
    if r.ar is not None:
        coef = ", ".join(f"y[t-{k}] {a:+.3f}" for k, a in zip(r.ar.lags, r.ar.coef))
        lines.append(f"- seasonal AR fit (train span): y[t] = {r.ar.intercept:.3f}, {coef}")
    return lines + [""]


TIE = 0.001  # within 0.1% of the seasonal AR's MAE is a tie, not a win (float32 vs float64)


def verdict(model: float | None, ar: float) -> str:
    """ "yes" when the model's MAE is more than TIE below the seasonal AR's, "tie" within it.

    >>> verdict(0.9, 1.0), verdict(0.9995, 1.0), verdict(1.2, 1.0), verdict(None, 1.0)
    ('yes', 'tie', 'no', 'no')
    """
    if model is None:
        return "no"
    if model < ar * (1 - TIE):
        return "yes"
    return "tie" if model <= ar * (1 + TIE) else "no"


def _how(report: dict) -> str:
    """The report's plan: training mode, target mode, season and highway lags."""
    m = report.get("model")
    if not m:
        return "(this report predates the plan)"
    season = f"season {m['season']} ({m['season_source']})" if m.get("season") else "no season"
    lags = ",".join(map(str, m.get("highway_lags") or [])) or "none"
    return (
        f"{m['train_mode']}, {m['target_mode']} targets (trend ratio {m['trend_ratio']}), "
        f"{season}, highway lags {lags}, best epoch {report['training']['best_epoch']}"
    )


def summary_table(results: list[qf.SeriesResult]) -> list[str]:
    """One row per series: the verdict at a glance."""
    lines = [
        "| series | model MAE (streamed) | report.json MAE | naive | seasonal naive | "
        "seasonal AR | train s | defaults? | beats seasonal AR? |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        sn = next(v for k, v in r.scores.items() if k.startswith("seasonal naive"))
        model = r.scores.get("model (streamed)", (None, None))[0]
        ar = r.scores["seasonal AR"][0]
        run = r.trained
        beats = verdict(model, ar)
        lines.append(
            f"| {r.name} | {fmt(model)} | {fmt(r.report_mae)} | {fmt(r.scores['naive'][0])} | "
            f"{fmt(sn[0])} (s={r.season}) | {fmt(ar)} | "
            f"{'-' if run is None else f'{run.seconds:.0f}'} | "
            f"{'yes' if r.defaults.report is not None else 'no (refused)'} | {beats} |"
        )
    return lines + [""]


def plot(r: qf.SeriesResult, folder: Path) -> Path | None:
    """PNG of the test span: actual, model (streamed), seasonal AR; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, style in (("actual", "k-"), ("model (streamed)", "C0-"), ("seasonal AR", "C1--")):
        if name in r.series:
            ax.plot(r.series[name], style, lw=1.2, label=name)
    ax.set_title(f"{r.name}: test span, one step ahead")
    ax.set_xlabel("test row")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = folder / f"{r.name}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
