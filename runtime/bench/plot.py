"""``edgernn bench --plot``: the latency distribution and throughput vs streams with the
hardware line. matplotlib is optional (``pip install 'edgernn[plot]'``) and imported only here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgernn.bench.run import BenchRun
from edgernn.errors import UsageError

if TYPE_CHECKING:  # matplotlib itself is imported only when a plot is made
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

NO_MATPLOTLIB = (
    "--plot needs matplotlib, which is not installed; pip install 'edgernn[plot]' (or matplotlib)"
)


def check_plot_path(path: str) -> None:
    """Fail before measuring, not after: matplotlib present, the folder there."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(NO_MATPLOTLIB) from None
    if not Path(path).resolve().parent.is_dir():
        raise UsageError(
            f"--plot {path!r}: folder {str(Path(path).parent)!r} does not exist; "
            "create it or pick another path"
        )


def plot(run: BenchRun, path: str | Path) -> Path:
    """Write a two-panel PNG of ``run`` to ``path``; returns the path."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        raise UsageError(NO_MATPLOTLIB) from None
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    latency_panel(left, run)
    throughput_panel(right, run.result)
    m, how = run.result["model"], run.result["run"]
    mode = "" if m.get("mode", "step") == "step" else f" ({m['mode']})"
    fig.suptitle(
        f"{Path(m['path']).name}: {m.get('task', 'forecast')} {m['arch']} {m['layers']}{mode} on "
        f"{how['provider']}, {how['threads'] or 'all'} thread(s) - {run.result['machine']['cpu']}"
    )
    fig.savefig(path, dpi=110)
    return Path(path)


def plain(value: float, _pos: object = None) -> str:
    """A tick label as a plain number: 20, 0.5, 150k, 1.2M (never 2x10^1 or 100.0).

    >>> [plain(v) for v in (20, 0.5, 100.0, 150000, 1200000)]
    ['20', '0.5', '100', '150k', '1.2M']
    """
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values in [lo, hi] at 1, 2, 5 x 10^n, finer (1, 1.5, 2, 3, 5, 7) when that gives
    fewer than three.

    >>> log_ticks(12, 110), log_ticks(12, 40)
    ([20.0, 50.0, 100.0], [15.0, 20.0, 30.0])
    """
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for subs in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [
            float(f"{m * 10.0**e:g}") for e in decades for m in subs if lo <= m * 10.0**e <= hi
        ]
        if len(ticks) >= 3:
            break
    return ticks


def plain_log_axis(axis: Axis, lo: float, hi: float) -> None:
    """Explicit ticks from ``log_ticks`` labelled with plain numbers; minor ticks unlabelled."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(plain))
    axis.set_minor_formatter(NullFormatter())


def latency_panel(ax: Axes, run: BenchRun) -> None:
    """Histograms of single-stream step latency, log-spaced bins, p50 and p99 marked."""
    ax.set_title("single-stream step latency")
    if not run.samples:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    us = {name: ns / 1e3 for name, ns in run.samples.items()}
    lo = min(float(a.min()) for a in us.values())
    hi = max(float(np.percentile(a, 99.9)) for a in us.values())
    bins = np.geomspace(max(lo, 1e-3), max(hi, lo * 1.01), 60)
    api = (run.result.get("api") or {}).get("single_stream") or "Stream.step"
    labels = {"edgernn": f"edgernn {api.split(' (')[0]}", "bare_ort": "bare ORT run()"}
    for (name, a), color in zip(us.items(), ("C0", "C1")):
        p50, p99 = np.percentile(a, [50, 99])
        ax.hist(
            np.clip(a, bins[0], bins[-1]),
            bins=bins.tolist(),
            alpha=0.55,
            color=color,
            label=f"{labels.get(name, name)}: p50 {p50:.1f}, p99 {p99:.1f} us",
        )
        ax.axvline(p50, color=color, lw=1.2)
        ax.axvline(p99, color=color, lw=1, ls=":")
    ax.set_xscale("log")
    plain_log_axis(ax.xaxis, bins[0], bins[-1])
    ax.set_xlabel("microseconds per step (solid p50, dotted p99; clipped at p99.9)")
    ax.set_ylabel("steps")
    ax.legend(fontsize=8)


def throughput_panel(ax: Axes, result: dict[str, Any]) -> None:
    """Stream-steps per second vs number of streams, with the sgemm line in the same units."""
    from matplotlib.ticker import NullFormatter

    ax.set_title("throughput vs streams")
    points = result["streams"]
    if not points:
        ax.text(0.5, 0.5, "not measured", ha="center", transform=ax.transAxes)
        return
    b = [p["streams"] for p in points]
    how = (result.get("api") or {}).get("streams") or ""
    label = (
        "edgernn pool"
        if result["pool"] == "used"
        else f"edgernn {how.split(',')[0] or 'Model.run'}"
    )
    ax.plot(b, [p["edgernn"]["stream_steps_per_s"] for p in points], "o-", color="C0", label=label)
    ax.plot(
        b,
        [p["bare_ort"]["stream_steps_per_s"] for p in points],
        "s-",
        color="C1",
        label="bare ORT run()",
    )
    hw, flops = result.get("hardware") or {}, result["model"]["flops_per_step"]
    if "square" in hw:
        line = [(p.get("sgemm_gflops") or np.nan) * 1e9 / flops for p in points]
        ax.plot(b, line, "k--", lw=1, label="sgemm at the same shapes")
        ax.axhline(
            hw["square"]["gflops"] * 1e9 / flops,
            color="k",
            ls=":",
            lw=1,
            label=f"sgemm {hw['square']['n']}^3: {hw['square']['gflops']:.0f} GFLOP/s",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(b, [str(v) for v in b])  # the measured stream counts, as they are
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.autoscale_view()
    plain_log_axis(ax.yaxis, *ax.get_ylim())
    ax.set_xlabel("streams stepped together")
    ax.set_ylabel(f"stream-steps per second ({flops / 1e3:.1f} kFLOP each)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
