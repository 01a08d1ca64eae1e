"""``edgernn bench``: how fast a model steps on this machine, next to a bare ONNX Runtime loop."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from edgernn.bench import BenchConfig, BenchRun, parse_repeat, parse_sizes, run_bench
from edgernn.benchplot import check_plot_path
from edgernn.errors import UsageError
from edgernn.model import load
from edgernn.placement import CpuFallbackWarning
from edgernn.providers import PROVIDERS


@click.command("bench")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--streams", default="1,16,64,256,1024,4096", show_default=True, metavar="N,N,...",
              help="Stream counts of the throughput sweep (one step of every stream per tick).")
@click.option("--chunks", default="1,10,100", show_default=True, metavar="T,T,...",
              help="Steps per call of the chunk measurement (one stream).")
@click.option("--provider", type=click.Choice(PROVIDERS), default="cpu", show_default=True)
@click.option("--cuda-graph", is_flag=True, help="CUDA graphs for fixed-shape steps (CUDA only).")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="ONNX Runtime intra-op threads (and the sgemm line's BLAS threads); 0 = all cores.")
@click.option("--repeat", "repeat_text", default="normal", show_default=True, metavar="small|normal|large|N",
              help="How long to measure: a preset, or N timed single-stream steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout instead of tables.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Also draw the latency distribution and throughput vs streams (needs matplotlib).")
@click.option("--startup/--no-startup", default=True, show_default=True,
              help="Time fresh `edgernn stream` processes to their first output, with peak RSS.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def command(model: str | None, streams: str, chunks: str, provider: str, threads: int, repeat_text: str,
            as_json: bool, plot_path: str | None, startup: bool, quiet: bool, cuda_graph: bool = False) -> None:
    """Measure MODEL (default: the shipped sensor forecaster) on this machine.

    Single-stream step latency (p50/p90/p99/max), throughput and cost per stream-step over
    --streams, chunked calls over --chunks, each next to a bare InferenceSession.run() loop;
    achieved GFLOP/s against this machine's sgemm; start-up time and peak RSS. Ctrl-C stops
    cleanly and reports what was measured.

    JSON fields: edgernn, date, model {path, id, arch, layers, features, targets,
    flops_per_step}, run {provider, provider_note, threads, repeat, streams, chunks}, machine,
    pool, single_stream {steps, warmup, edgernn_us, bare_ort_us, ratio_p50}, hardware
    {threads, square {n, gflops}, matched_gflops {B: GFLOP/s}}, streams [{streams, ticks,
    sgemm_gflops, edgernn|bare_ort {tick_us, per_stream_step_us, stream_steps_per_s, gflops,
    sgemm_fraction, square_fraction}}], chunks [{chunk, calls, edgernn|bare_ort {call_us,
    per_step_us, steps_per_s}}], startup {runs, first_output_s, peak_rss_mb}, interrupted.
    Latencies (*_us) are {p50, p90, p99, max, mean} in microseconds.
    """
    config = BenchConfig(parse_sizes(streams, "--streams"), parse_sizes(chunks, "--chunks"),
                         parse_repeat(repeat_text), startup)
    if plot_path:
        check_plot_path(plot_path)
    with warnings.catch_warnings():  # a GPU session's CPU fallback shows in the header's provider note
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(model, provider=provider, intra_op_threads=threads, cuda_graph=cuda_graph)
    progress = _Progress(3 + len(config.streams) + len(config.chunks) - (not startup), quiet)
    run = run_bench(m, config, progress)
    progress.done("interrupted: reporting what was measured" if run.result["interrupted"] else None)
    if plot_path:
        _plot(run, plot_path)
    click.echo(json.dumps(run.result, indent=2) if as_json else render(run.result))


class _Progress:
    """``[i/n] what`` on stderr: redrawn in place on a terminal, one line each otherwise."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.i, self.quiet = total, 0, quiet
        self.tty = bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())

    def __call__(self, text: str) -> None:
        self.i += 1
        if not self.quiet:
            line = f"bench [{self.i}/{self.total}] {text}"
            sys.stderr.write(f"\r\033[K{line}" if self.tty else line + "\n")
            sys.stderr.flush()

    def done(self, note: str | None) -> None:
        if not self.quiet and self.tty:
            sys.stderr.write("\r\033[K")
        if note:
            click.echo(note, err=True)



def _plot(run: BenchRun, path: str) -> None:
    from edgernn.benchplot import plot

    try:
        plot(run, path)
    except OSError as e:
        raise UsageError(f"--plot {path!r} cannot be written ({e.strerror or e}); pick another path") from e


# ---- the tables ------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    """The result as readable text tables."""
    parts = [_header(r)]
    if r["single_stream"]:
        parts.append(_single(r["single_stream"]))
    if r["streams"]:
        parts.append(_streams(r))
    if r["chunks"]:
        parts.append(_chunks(r))
    if r["startup"]:
        parts.append(_startup(r["startup"]))
    if r["interrupted"]:
        parts.append("(interrupted: the tables above are what was measured)")
    return "\n\n".join(parts)


def _header(r: dict) -> str:
    m, run, mc = r["model"], r["run"], r["machine"]
    threads = run["threads"] or "all"
    note = f" ({run['provider_note']})" if run["provider_note"] else ""
    return (f"{Path(m['path']).name}: {m['arch']} {m['layers']}, {m['features']} feature(s) -> {m['targets']} target(s), "
            f"{m['flops_per_step'] / 1e3:.1f} kFLOP per stream-step (matrix products)\n"
            f"{run['provider']}{note}, {threads} intra-op thread(s); {mc['cpu']}, {mc['cores']} cores "
            f"[{' '.join(mc['flags'])}]; onnxruntime {mc['onnxruntime']}, numpy {mc['numpy']}, edgernn {r['edgernn']}")


def _single(s: dict) -> str:
    rows = [f"Single-stream step latency, us ({s['steps']} steps after {s['warmup']} warm-up)",
            f"  {'':<22}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"]
    for name, key in (("edgernn Stream.step", "edgernn_us"), ("bare ORT run()", "bare_ort_us")):
        rows.append(f"  {name:<22}" + "".join(f"{_num(s[key][p]):>9}" for p in ("p50", "p90", "p99", "max")))
    rows.append(f"  edgernn / bare at p50: {s['ratio_p50']:.2f}x")
    return "\n".join(rows)


def _streams(r: dict) -> str:
    how = "Stream pool" if r["pool"] == "used" else "Model.run over stacked states (pool not available)"
    head = f"  {'streams':>7}  {'us/step':>8}{'steps/s':>9}{'GFLOP/s':>9}{'%line':>7}  |{'us/step':>8}{'steps/s':>9}{'GFLOP/s':>9}{'%line':>7}  |{'line':>7}"
    rows = [f"Throughput: one step of every stream per tick (edgernn: {how})",
            f"  {'':>7}  {'edgernn':<33}  | {'bare ORT run()':<32}  | sgemm", head]
    for p in r["streams"]:
        cells = "  |".join(_sweep_cells(p[name]) for name in ("edgernn", "bare_ort"))
        rows.append(f"  {p['streams']:>7}  {cells}  |{_num(p.get('sgemm_gflops')):>7}")
    rows.append("  " + _line_note(r["hardware"]))
    return "\n".join(rows)


def _sweep_cells(c: dict) -> str:
    frac = c.get("sgemm_fraction")
    pct = f"{100 * frac:.0f}%" if frac is not None else "-"
    return f"{_num(c['per_stream_step_us']):>8}{_rate(c['stream_steps_per_s']):>9}{_num(c['gflops']):>9}{pct:>7}"


def _line_note(hw: dict | None) -> str:
    if not hw or "square" not in hw:
        why = (hw or {}).get("skipped") or (hw or {}).get("error") or "not measured"
        return f"hardware line: {why}"
    return (f"hardware line: numpy sgemm, {hw['threads']} thread(s): {hw['square']['gflops']:.1f} GFLOP/s at "
            f"{hw['square']['n']}^3; 'line' = sgemm GFLOP/s at this sweep point's shapes, %line = achieved / line")


def _chunks(r: dict) -> str:
    step = (r["single_stream"] or {}).get("edgernn_us", {}).get("p50")
    rows = ["Chunks: one stream, T steps per call (Stream.steps vs one bare run() over T steps)",
            f"  {'T':>5}  {'edgernn us/step':>16}{'steps/s':>9}{'vs step()':>11}  |{'bare us/step':>13}{'steps/s':>9}"]
    for p in r["chunks"]:
        e, b = p["edgernn"], p["bare_ort"]
        gain = f"{step / e['per_step_us']:.2f}x" if step else "-"
        rows.append(f"  {p['chunk']:>5}  {_num(e['per_step_us']):>16}{_rate(e['steps_per_s']):>9}{gain:>11}  |"
                    f"{_num(b['per_step_us']):>13}{_rate(b['steps_per_s']):>9}")
    return "\n".join(rows)


def _startup(s: dict) -> str:
    if "error" in s:
        return f"Start-up: not measured ({s['error']})"
    rss = f"{s['peak_rss_mb']:.1f} MB" if s["peak_rss_mb"] is not None else "n/a"
    return (f"Start-up: `edgernn stream` to its first output {s['first_output_s']:.3f} s (min {s['first_output_s_min']:.3f}), "
            f"peak RSS {rss}; median of {s['runs']} fresh process(es) in this environment")


def _num(v: float | None) -> str:
    """3 significant-ish figures."""
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"
