"""Metrics in the user's units, the warnings a report earns, report.json and report.png.

The figures themselves come from streaming (``edgernn.train.forecast.evaluate``): every row's
forecast against its value, next to the baselines on the same rows. A forecast worse than the
naive one is warned about with its likely cause. report.png also draws the gradient diagnostics
(``edgernn.train.forecast.gradients``): per-layer gradient norms per epoch and the last forecast's
input sensitivity against steps back, both on log scales. matplotlib is optional: without it
the plot is skipped and the report says so.

>>> m = metrics(np.array([[1.0], [3.0]]), np.array([[2.0], [3.0]]), ("temp",))
>>> m["mse"], m["mae"], m["per_target"]["temp"]["mae"]
(0.5, 0.5, 0.5)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PLOT_POINTS = 500  # test windows drawn in the predictions-vs-actual panels


def metrics(pred: np.ndarray, actual: np.ndarray, targets: Sequence[str]) -> dict:
    """MSE and MAE of (W, K) ``pred`` vs ``actual``: overall (mean over targets) and per target."""
    err = np.asarray(pred, dtype=np.float64) - np.asarray(actual, dtype=np.float64)  # (W, K)
    per = {
        t: {"mse": float(np.mean(err[:, k] ** 2)), "mae": float(np.mean(np.abs(err[:, k])))}
        for k, t in enumerate(targets)
    }
    return {
        "mse": float(np.mean(err**2)),
        "mae": float(np.mean(np.abs(err))),
        "n": int(len(err)),
        "per_target": per,
    }


def skill(model: dict, baseline: dict) -> float | None:
    """1 - MSE(model) / MSE(naive): > 0 beats the naive forecast, 1 is perfect."""
    return None if baseline["mse"] == 0 else 1.0 - model["mse"] / baseline["mse"]


def write_json(path: Path, report: dict) -> Path:
    """Write ``report`` as indented JSON."""
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    return path


def beats_naive(report: dict) -> bool:
    """Whether the test MSE is below the naive last-value forecast's on the same rows."""
    return report["metrics"]["test"]["mse"] < report["baseline"]["naive_last_value"]["test"]["mse"]


def naive_warning(report: dict) -> str | None:
    """One line when the model forecasts worse than "next = current", with its likely cause
    and what to try; else None."""
    if beats_naive(report):
        return None
    mse, naive = (
        report["metrics"]["test"]["mse"],
        report["baseline"]["naive_last_value"]["test"]["mse"],
    )
    return (
        f"warning: test MSE {mse:.3g} is worse than the naive last-value baseline {naive:.3g}; "
        + likely_cause(report)
    )


def likely_cause(report: dict) -> str:
    """What most likely holds the model back, from the report's facts, and the fix."""
    model, data = report.get("model", {}), report.get("data", {})
    outside = data.get("test_outside_train_range", 0.0)
    if outside > 0.25 and model.get("target_mode") != "delta":
        return (
            f"{outside:.0%} of the test values lie outside the training range (a trend): "
            "forecast changes with --target-mode delta"
        )
    season, context = model.get("season"), _context(report)
    if season and context and season > context and not model.get("highway_lags"):
        return (
            f"the season ({season} steps) is longer than the context ({context} steps): keep "
            "the highway (drop --no-highway) so seasonal lags are used"
        )
    if not model.get("highway_lags") and report.get("arch") != "linear":
        return "try the linear highway (drop --no-highway) or --arch linear to see the baseline"
    return "train longer (--epochs), or try a smaller --window / larger --hidden"


def _context(report: dict) -> int | None:
    model = report.get("model", {})
    return model.get("bptt") if model.get("train_mode") == "stateful" else report.get("window")


def warnings(report: dict) -> list[str]:
    """Every warning the report earns (printed after the summary, kept in report.json)."""
    out = [w for w in [naive_warning(report)] if w]
    base = report["baseline"].get("seasonal_ar", {}).get("test")
    if base and not out and report["metrics"]["test"]["mae"] >= base["mae"]:
        out.append(
            f"note: test MAE {report['metrics']['test']['mae']:.4g} does not beat the seasonal "
            f"linear autoregression ({base['mae']:.4g}); --arch linear gives that model alone"
        )
    return out


def plot(path: Path, history, streamed, data, gradients: dict | None = None) -> str | None:
    """Loss curves, the test rows' streamed forecasts vs actual and the seasonal autoregression
    (one panel per target, a gap and a dotted line between series) and, when there are any, the
    per-layer gradient norms and the input sensitivity (``gradients``, report.json's section)
    into ``path``; returns why it was skipped, or None."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib); report.png was not written"
    targets = data.targets
    norms = getattr(history, "grad_norms", None) or {}
    sens = (gradients or {}).get("input_sensitivity") or []
    extra = bool(norms) + bool(sens)
    fig = Figure(figsize=(10, 3 * (1 + len(targets) + extra)), layout="constrained")
    axes = fig.subplots(1 + len(targets) + extra, 1, squeeze=False)[:, 0]
    _plot_losses(axes[0], history)
    if norms:
        _plot_grad_norms(axes[1 + len(targets)], norms)
    if sens:
        _plot_sensitivity(axes[-1], sens)
    actual, pred, ar, series = _test_rows(streamed, data)
    n = min(len(actual), PLOT_POINTS)
    x, cuts = gapped_index(n, series[:n])
    for k, (ax, name) in enumerate(zip(axes[1:], targets)):
        ax.plot(x, _gapped(actual[:n, k], cuts), label="actual", color="black", linewidth=1)
        ax.plot(x, _gapped(pred[:n, k], cuts), label="forecast", color="tab:orange", linewidth=1)
        ax.plot(
            x,
            _gapped(ar[:n, k], cuts),
            label="seasonal autoregression",
            color="tab:blue",
            linewidth=0.8,
            linestyle="--",
        )
        for i, c in enumerate(cuts):
            ax.axvline(
                c - 0.5,
                color="gray",
                linestyle=":",
                linewidth=1,
                label="next series" if i == 0 else None,
            )
        ax.set_title(
            f"test: next-step {name}, streamed (first {n} rows"
            f"{f', {len(cuts) + 1} series' if cuts else ''})"
        )
        ax.set_xlabel("test row")
        ax.legend(loc="upper right")
    fig.savefig(path, dpi=100)
    return None


def _test_rows(streamed, data) -> tuple[np.ndarray, ...]:
    """The test rows of every series: actual, forecast, seasonal AR (each (R, K)), series (R,)."""
    actual, pred, ar, series = [], [], [], []
    for i, (s, f, (_, b)) in enumerate(zip(data.series, streamed.forecasts, data.bounds)):
        actual.append(s.y[b:])
        pred.append(f[b:])
        ar.append(streamed.baselines.seasonal_ar(s.y)[b:])
        series.append(np.full(len(s.y) - b, i))
    return tuple(np.concatenate(a) for a in (actual, pred, ar, series))


def gapped_index(n: int, series: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
    """x positions for ``n`` windows with a NaN between series, and the windows that start a
    new series.

    >>> x, cuts = gapped_index(4, np.array([0, 0, 1, 1]))
    >>> x.tolist(), cuts, _gapped(np.arange(4.0), cuts).tolist()
    ([0.0, 1.0, nan, 2.0, 3.0], [2], [0.0, 1.0, nan, 2.0, 3.0])
    """
    cuts = [] if series is None else (np.flatnonzero(np.diff(series)) + 1).tolist()
    return _gapped(np.arange(n, dtype=np.float64), cuts), cuts


def _gapped(values: np.ndarray, cuts: list[int]) -> np.ndarray:
    """``values`` with a NaN inserted before each cut, so a plotted line breaks there."""
    return np.insert(np.asarray(values, dtype=np.float64), cuts, np.nan)


def _plot_losses(ax, history) -> None:
    epochs = np.arange(1, history.epochs_run + 1)
    ax.plot(epochs, history.train_loss, marker=".", label="train")
    ax.plot(epochs, history.val_loss, marker=".", label="validation")
    ax.axvline(
        history.best_epoch, color="gray", linestyle="--", label=f"best (epoch {history.best_epoch})"
    )
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled)")
    ax.set_title("loss")
    ax.legend(loc="upper right")


def _plot_grad_norms(ax, norms: dict) -> None:
    for name, values in norms.items():
        ax.plot(np.arange(1, len(values) + 1), np.maximum(values, 1e-30), marker=".", label=name)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean gradient L2 norm")
    ax.set_title("gradient norm per layer (before clipping)")
    ax.legend(loc="upper right")


def _plot_sensitivity(ax, sens: Sequence[float]) -> None:
    back = np.arange(len(sens))  # 0 = the forecast step itself
    ax.plot(
        back,
        np.maximum(np.asarray(sens, dtype=np.float64)[::-1], 1e-30),
        marker=".",
        color="tab:purple",
    )
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the forecast step (T - t)")
    ax.set_ylabel("mean |dL_T / dx_t|")
    ax.set_title("input sensitivity of the last step's loss (validation windows)")
