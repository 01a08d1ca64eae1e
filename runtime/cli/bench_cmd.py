"""``edgernn bench``: how fast a model steps on this machine, next to a bare ONNX Runtime loop."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from edgernn.bench.measure import parse_repeat, parse_sizes
from edgernn.bench.plot import check_plot_path
from edgernn.bench.run import BenchConfig, BenchRun, phases, run_bench
from edgernn.bench.workloads import BARE
from edgernn.cli.common import Progress, json_option, provider_option
from edgernn.core.model import load
from edgernn.core.placement import CpuFallbackWarning
from edgernn.errors import UsageError

HELP = """Measure MODEL (default: the shipped sensor forecaster; any exported model) on this
machine.

Single-stream step latency (p50/p90/p99/max), throughput and cost per stream-step over
--streams, chunked calls over --chunks, each next to a bare InferenceSession.run() loop;
achieved GFLOP/s against this machine's sgemm; start-up time and peak RSS. The signature
picks valid inputs (scaled sensor rows, or token ids from the vocabulary) and the edgernn
call timed: Stream.step / pool / Stream.steps for forecasters, WindowStream.step for window
models, ClassifierStream.step, Generator.step, or the seq2seq decoder's step buffers from an
encoder state; tasks without a pool sweep Model.run over stacked states. Ctrl-C stops
cleanly, reports what was measured and exits 130.

\b
JSON fields:
  edgernn, date, interrupted (true after Ctrl-C; exit 130)
  model {path, id, task, mode (step | window of W), input, outputs, arch, layers,
    features, targets, flops_per_step, flops_nominal (int8 graph), flops_notes [what the
    count assumes or leaves out]}
  run {provider, provider_note, threads, repeat, streams, chunks}
  machine {cpu, cores, flags, memory_gb, platform, python, numpy, onnxruntime}
  pool (used | not available)
  api {single_stream, bare_ort, streams, chunks}: the calls timed (chunks null: n/a)
  single_stream {steps, warmup, edgernn_us, bare_ort_us, ratio_p50, partial (only when
    Ctrl-C cut it short)}
  hardware {threads, square {n, gflops}, matched_gflops {B: GFLOP/s}, shapes, method}
    or {skipped} / {error}
  streams [{streams, ticks, sgemm_gflops, edgernn|bare_ort {tick_us, per_stream_step_us,
    stream_steps_per_s, gflops, sgemm_fraction, square_fraction}}]
  chunks [{chunk, calls, api, edgernn|bare_ort {call_us, per_step_us, steps_per_s}}]
  startup {runs, first_output_s, first_output_s_min, peak_rss_mb, command, output}
    or {error, command}
  skipped {chunks | startup: why that phase did not run}
Latencies (*_us) are {p50, p90, p99, max, mean} in microseconds; per-step figures and
GFLOP/s use the p50 tick or call.

"""


@click.command("bench", help=HELP)
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--streams",
    default="1,16,64,256,1024,4096",
    show_default=True,
    metavar="N,N,...",
    help="Stream counts of the throughput sweep (one step of every stream per tick).",
)
@click.option(
    "--chunks",
    default="1,10,100",
    show_default=True,
    metavar="T,T,...",
    help="Steps per call of the chunk measurement (one stream).",
)
@provider_option()
@click.option("--cuda-graph", is_flag=True, help="CUDA graphs for fixed-shape steps (CUDA only).")
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="ONNX Runtime intra-op threads (and the sgemm line's BLAS threads); 0 = all cores.",
)
@click.option(
    "--repeat",
    "repeat_text",
    default="normal",
    show_default=True,
    metavar="small|normal|large|N",
    help="How long to measure: a preset, or N timed single-stream steps.",
)
@json_option("Print the result as JSON on stdout instead of tables.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE.png",
    help="Also draw the latency distribution and throughput vs streams (needs matplotlib).",
)
@click.option(
    "--startup/--no-startup",
    default=True,
    show_default=True,
    help="Time fresh processes of the model's command (stream, classify, generate) to their "
    "first output, with peak RSS.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def command(
    model: str | None,
    streams: str,
    chunks: str,
    provider: str,
    threads: int,
    repeat_text: str,
    as_json: bool,
    plot_path: str | None,
    startup: bool,
    quiet: bool,
    cuda_graph: bool = False,
) -> None:
    """``edgernn bench``: see HELP."""
    config = BenchConfig(
        parse_sizes(streams, "--streams"),
        parse_sizes(chunks, "--chunks"),
        parse_repeat(repeat_text),
        startup,
    )
    if plot_path:
        check_plot_path(plot_path)
    # a GPU session's CPU fallback shows in the header's provider note
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(model, provider=provider, intra_op_threads=threads, cuda_graph=cuda_graph)
    progress = Progress("bench", phases(m, config), quiet)
    run = run_bench(m, config, progress)
    interrupted = run.result["interrupted"]
    progress.done("interrupted: reporting what was measured" if interrupted else None)
    if plot_path:
        _plot(run, plot_path)
    click.echo(json.dumps(run.result, indent=2) if as_json else render(run.result))
    if interrupted:
        sys.exit(130)  # the shell's convention for a run stopped by a signal, as `edgernn stream`


def _plot(run: BenchRun, path: str) -> None:
    from edgernn.bench.plot import plot

    try:
        plot(run, path)
    except OSError as e:
        raise UsageError(
            f"--plot {path!r} cannot be written ({e.strerror or e}); pick another path"
        ) from e


# ---- the tables ------------------------------------------------------------------------------
def render(r: dict[str, Any]) -> str:
    """The result as readable text tables."""
    parts = [_header(r)]
    if r["single_stream"]:
        parts.append(_single(r))
    if r["streams"]:
        parts.append(_streams(r))
    if r["chunks"] or "chunks" in r.get("skipped", {}):
        parts.append(_chunks(r))
    if r["startup"] or r.get("skipped", {}).get("startup", "--no-startup") != "--no-startup":
        parts.append(_startup(r))
    if r["interrupted"]:
        parts.append("(interrupted: the tables above are what was measured)")
    return "\n\n".join(parts)


def _header(r: dict[str, Any]) -> str:
    m, run, mc = r["model"], r["run"], r["machine"]
    threads = run["threads"] or "all"
    note = f" ({run['provider_note']})" if run["provider_note"] else ""
    mode = "" if m.get("mode", "step") == "step" else f" ({m['mode']})"
    io = (
        f"{m['features']} feature(s) -> {m['targets']} target(s)"
        if m.get("task", "forecast") == "forecast"
        else f"{m['task']}, {m['input']} -> {m['outputs']}"
    )
    nominal = ", nominal" if m.get("flops_nominal") else ""
    lines = [
        (
            f"{Path(m['path']).name}: {m['arch']} {m['layers']}{mode}, {io}, "
            f"{m['flops_per_step'] / 1e3:.1f} kFLOP per stream-step (matrix products{nominal})"
        )
    ]
    lines += [f"  FLOPs: {n}" for n in m.get("flops_notes", [])]
    lines.append(
        f"{run['provider']}{note}, {threads} intra-op thread(s); {mc['cpu']}, {mc['cores']} cores "
        f"[{' '.join(mc['flags'])}]; onnxruntime {mc['onnxruntime']}, numpy {mc['numpy']}, edgernn "
        f"{r['edgernn']}"
    )
    return "\n".join(lines)


def _short(api: str | None, default: str) -> str:
    """An API description's call name: 'Generator.step (a token id; ...)' -> 'Generator.step'."""
    return (api or default).split(" (")[0]


def _single(r: dict[str, Any]) -> str:
    s, api = r["single_stream"], r.get("api") or {}
    full = api.get("single_stream") or "Stream.step"
    short = _short(full, "Stream.step")
    cut = ", cut short by Ctrl-C" if s.get("partial") else ""
    rows = [f"Single-stream step latency, us ({s['steps']} steps after {s['warmup']} warm-up{cut})"]
    if full != short:
        rows.append(f"  edgernn: {full}")
    if api.get("bare_ort") and api["bare_ort"] != BARE:
        rows.append(f"  bare: {api['bare_ort']}")
    width = max(22, len(short) + 10)
    rows.append(f"  {'':<{width}}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
    for name, key in ((f"edgernn {short}", "edgernn_us"), ("bare ORT run()", "bare_ort_us")):
        rows.append(
            f"  {name:<{width}}"
            + "".join(f"{_num(s[key][p]):>9}" for p in ("p50", "p90", "p99", "max"))
        )
    rows.append(f"  edgernn / bare at p50: {s['ratio_p50']:.2f}x")
    return "\n".join(rows)


def _streams(r: dict[str, Any]) -> str:
    how = (r.get("api") or {}).get("streams") or (
        "Stream pool" if r["pool"] == "used" else "Model.run over stacked states"
    )
    unit = "window" if r["model"].get("mode", "step") != "step" else "step"
    half = f"{'us/step':>8}{'steps/s':>9}{'GFLOP/s':>9}{'%line':>7}{'p99 tick':>10}"
    rows = [
        f"Throughput: one {unit} of every stream per tick (edgernn: {how})",
        f"  {'':>7}  {'edgernn':<45}| {'bare ORT run()':<44}| sgemm",
        f"  {'streams':>7}  {half}  |{half}  |{'line':>6}",
    ]
    for p in r["streams"]:
        cells = "  |".join(_sweep_cells(p[name]) for name in ("edgernn", "bare_ort"))
        rows.append(f"  {p['streams']:>7}  {cells}  |{_num(p.get('sgemm_gflops')):>6}")
    rows.append(
        "  us/step, steps/s and GFLOP/s from the p50 tick; p99 tick: the whole tick's p99, us"
    )
    rows.append("  " + _line_note(r["hardware"]))
    return "\n".join(rows)


def _sweep_cells(c: dict[str, Any]) -> str:
    frac = c.get("sgemm_fraction")
    pct = f"{100 * frac:.0f}%" if frac is not None else "-"
    return (
        f"{_num(c['per_stream_step_us']):>8}{_rate(c['stream_steps_per_s']):>9}{_num(c['gflops']):>9}{pct:>7}"
        f"{_num(c['tick_us']['p99']):>10}"
    )


def _line_note(hw: dict[str, Any] | None) -> str:
    if not hw or "square" not in hw:
        why = (hw or {}).get("skipped") or (hw or {}).get("error") or "not measured"
        return f"hardware line: {why}"
    return (
        f"hardware line: numpy sgemm, {hw['threads']} thread(s): {hw['square']['gflops']:.1f} "
        "GFLOP/s at "
        f"{hw['square']['n']}^3; 'line' = sgemm GFLOP/s at this sweep point's shapes, %line = "
        "achieved / line"
    )


def _chunks(r: dict[str, Any]) -> str:
    why = r.get("skipped", {}).get("chunks")
    if why:
        return f"Chunks: skipped ({why})"
    step = (r["single_stream"] or {}).get("edgernn_us", {}).get("p50")
    rows = [
        "Chunks: one stream, T steps per call "
        "(edgernn: the call named on the right; bare: one run() over T steps)",
        (
            f"  {'T':>5}  {'edgernn us/step':>16}{'steps/s':>9}{'vs step()':>11}{'p99 call':>10}  |"
            f"{'bare us/step':>13}{'steps/s':>9}{'p99 call':>10}  | edgernn call"
        ),
    ]
    for p in r["chunks"]:
        e, b = p["edgernn"], p["bare_ort"]
        gain = f"{step / e['per_step_us']:.2f}x" if step else "-"
        rows.append(
            f"  {p['chunk']:>5}  {_num(e['per_step_us']):>16}{_rate(e['steps_per_s']):>9}{gain:>11}"
            f"{_num(e['call_us']['p99']):>10}  "
            f"|{_num(b['per_step_us']):>13}{_rate(b['steps_per_s']):>9}"
            f"{_num(b['call_us']['p99']):>10}  | {_short(p.get('api'), 'Stream.steps')}"
        )
    rows.append(
        "  us/step and steps/s from the p50 call; p99 call: the whole call's p99, us; "
        "vs step(): single-stream p50 / us/step"
    )
    return "\n".join(rows)


def _startup(r: dict[str, Any]) -> str:
    s = r["startup"]
    if not s:
        return f"Start-up: skipped ({r['skipped']['startup']})"
    if "error" in s:
        return f"Start-up: not measured ({s['error']})"
    cmd = _short(s.get("command"), "edgernn stream").replace("python -m ", "")
    rss = f"{s['peak_rss_mb']:.1f} MB" if s["peak_rss_mb"] is not None else "n/a"
    return (
        f"Start-up: `{cmd}` to its {s.get('output', 'first output')}:\n"
        f"  {s['first_output_s']:.3f} s (min {s['first_output_s_min']:.3f}), peak RSS {rss}; "
        f"median of {s['runs']} fresh process(es) in this environment"
    )


def _num(v: float | None) -> str:
    """3 significant-ish figures."""
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"
