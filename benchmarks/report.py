"""Markdown for RESULTS.md from ``run_all.run``'s numbers (tables, targets, machine)."""

from __future__ import annotations

import datetime

import models

COLS = ("edgernn", "bare_ort", "torch", "torch_native", "numpy")
NAMES = {
    "edgernn": "edgernn",
    "bare_ort": "bare ORT `run()`",
    "torch": "torch eager, oneDNN on",
    "torch_native": "torch eager, oneDNN off",
    "numpy": "numpy cell",
}


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def us(v: float) -> str:
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def best_torch(single: dict) -> str:
    """The faster of the two torch variants (the one the targets are judged against)."""
    return min(("torch", "torch_native"), key=lambda k: single[k]["p50"])


def render(d: dict, command: str) -> str:
    date = datetime.date.today().isoformat()
    parts = [
        f"## {date} — edgernn vs bare ONNX Runtime vs PyTorch eager vs numpy "
        f"(`run_all.py`{' --quick' if d['quick'] else ''})",
        machine_text(d, command),
        targets(d),
        reading(d),
        single_table(d),
        streams_table(d),
        sweep_table(d),
        chunk_table(d),
        hardware_text(d),
        startup_table(d),
        "### `edgernn bench` on the shipped model (runtime-only "
        f"environment)\n\n`{d.get('bench_command', 'edgernn bench')}`"
        "\n\n```text\n" + d["bench_text"] + "\n```",
    ]
    return "\n\n".join(p for p in parts if p)


def machine_text(d: dict, command: str) -> str:
    m, v, s = d["machine"], d["versions"], d["settings"]
    return (
        f"**Machine**: {m['cpu']}, {m['cores']} cores, flags {' '.join(m['flags'])}, "
        f"{m['memory_gb']} GiB; "
        f"{m['platform']}, Python {m['python']}.  \n"
        f"**Versions**: onnxruntime {m['onnxruntime']} (CPU provider), numpy {m['numpy']}, torch "
        f"{v['torch']}, "
        f"onnx {v['onnx']}, edgernn {v['edgernn']}.  \n"
        f"**Command**: `{command}`; one thread everywhere (ORT intra-op 1 with spinning off, "
        f"`torch.set_num_threads(1)`, BLAS 1 thread); single-stream loops {s['steps']} steps after "
        f"{s['warmup']} "
        f"warm-up, many-stream points ~{s['budget_s']} s per implementation, all interleaved in "
        "blocks.  \n"
        "Models: random weights, 2 features -> 1 target (benchmarks/models.py); every "
        "implementation is checked to agree with ONNX Runtime within 1e-5 "
        "(`pytest benchmarks -k agree`). FLOPs count the matrix products (2·G·H·(I+H) per layer, "
        "G = 1/3/4 for RNN/GRU/LSTM, plus the head); elementwise work is not counted."
    )


def headline_numbers(d: dict) -> dict | None:
    """The figures the targets and the reading are judged on, rounded as they are printed."""
    h = d["models"].get(models.headline().name)
    if h is None:
        return None
    one, many = h["single"], h["streams_1024"]
    bt = best_torch(one)
    ratios = {
        m["label"]: round(m["single"]["edgernn"]["p50"] / m["single"]["bare_ort"]["p50"], 2)
        for m in d["models"].values()
    }
    return {
        "h": h,
        "ratio": round(one["edgernn"]["p50"] / one["bare_ort"]["p50"], 2),
        "ratios": ratios,
        "bt": bt,
        "speedup": round(one[bt]["p50"] / one["edgernn"]["p50"], 1),
        "frac": round(many["edgernn"]["gflops"] / h["line_1024"], 2),
        "bare_frac": round(many["bare_ort"]["gflops"] / h["line_1024"], 2),
        "startup": d["startup"]["edgernn stream (runtime only)"],
    }


def targets(d: dict) -> str:
    n = headline_numbers(d)
    if n is None:
        return ""
    h, st, ratio, ratios = n["h"], n["startup"], n["ratio"], n["ratios"]
    met = sorted(label for label, r in ratios.items() if r <= 0.7)
    grid = (
        f"{len(met)} of {len(ratios)} grid models meet it ({', '.join(met) or 'none'}); range "
        f"{min(ratios.values()):.2f}-{max(ratios.values()):.2f}x"
    )
    rows = [
        [
            f"single-stream step p50 <= 0.7x bare ORT `run()` ({models.headline().label})",
            f"{ratio:.2f}x; {grid}",
            verdict(ratio <= 0.7, f"{ratio / 0.7:.2f}x too slow")
            + (
                ""
                if len(met) == len(ratios)
                else f" on {models.headline().label}; missed on {len(ratios) - len(met)} of "
                f"{len(ratios)}"
            ),
        ],
        [
            f"single-stream step >= 20x faster than PyTorch eager ({NAMES[n['bt']]}, the faster)",
            f"{n['speedup']:.1f}x",
            verdict(n["speedup"] >= 20, f"{20 / n['speedup']:.1f}x short"),
        ],
        [
            f"1024 streams >= 85% of the sgemm line ({models.headline().label}, 1 thread)",
            f"{100 * n['frac']:.0f}% ({h['streams_1024']['edgernn']['gflops']:.0f} of "
            f"{h['line_1024']:.0f} GFLOP/s; bare ORT "
            f"{100 * n['bare_frac']:.0f}%)",
            verdict(n["frac"] >= 0.85, f"{100 * (0.85 - n['frac']):.0f} points short"),
        ],
        [
            "start-up to first output <= 0.3 s (runtime-only)",
            f"{st['first_output_s_median']:.3f} s",
            verdict(st["first_output_s_median"] <= 0.3, "slower"),
        ],
        [
            "peak RSS <= 80 MB (runtime-only)",
            f"{st['peak_rss_mb_median']:.1f} MB",
            verdict(st["peak_rss_mb_median"] <= 80, f"{st['peak_rss_mb_median'] - 80:.0f} MB over"),
        ],
    ]
    return "### Targets\n\n" + table(["target", "measured", "verdict"], rows)


def reading(d: dict) -> str:
    """The figures the explanation below the markers relies on, from this run (so they never go
    stale).
    """
    n = headline_numbers(d)
    if n is None:
        return ""
    one, many, label = n["h"]["single"], n["h"]["streams_1024"], models.headline().label
    e, torch_on, torch_off = one["edgernn"]["p50"], one["torch"]["p50"], one["torch_native"]["p50"]
    pool, bare = many["edgernn"]["per_stream_step_us"], many["bare_ort"]["per_stream_step_us"]
    big = [m for m in d["models"].values() if m["label"] == "LSTM 2x256"]
    lines = [
        f"- {label} one step: edgernn {us(e)} us, bare `run()` {us(one['bare_ort']['p50'])} us, "
        "torch eager "
        f"{us(torch_off)} us with oneDNN off and {us(torch_on)} us with it on "
        f"({torch_off / e:.1f}x and {torch_on / e:.1f}x edgernn); "
        f"20x torch would need a {torch_off / 20:.1f} us step.",
        f"- {label} at 1024 streams: the pool costs {pool:.3f} us a stream-step against {bare:.3f} "
        "us for the bare batched "
        f"`run()` (+{100 * (pool / bare - 1):.0f}%), {100 * n['frac']:.0f}% and "
        f"{100 * n['bare_frac']:.0f}% of the line.",
    ]
    if big:
        b = big[0]
        lines.append(
            "- LSTM 2x256 at 1024 streams reaches "
            f"{100 * b['streams_1024']['edgernn']['gflops'] / b['line_1024']:.0f}% "
            f"(bare ORT {100 * b['streams_1024']['bare_ort']['gflops'] / b['line_1024']:.0f}%): "
            "the fraction grows with the hidden size."
        )
    st = n["startup"]
    lines.append(
        f"- Runtime-only start-up {st['first_output_s_median']:.3f} s to the first output, peak "
        f"RSS {st['peak_rss_mb_median']:.1f} MB."
    )
    return "### This run in figures (read with the explanation below)\n\n" + "\n".join(lines)


def verdict(ok: bool, miss: str) -> str:
    return "**met**" if ok else f"missed: {miss}"


def single_table(d: dict) -> str:
    rows = []
    for m in d["models"].values():
        s = m["single"]
        e = s["edgernn"]["p50"]
        cells = [f"{us(s[k]['p50'])} ({us(s[k]['p99'])})" for k in COLS]
        rows.append(
            [
                m["label"],
                f"{m['flops'] / 1e3:.1f}",
                *cells,
                f"{e / s['bare_ort']['p50']:.2f}x",
                f"{s[best_torch(s)]['p50'] / e:.1f}x",
                f"{s['numpy']['p50'] / e:.1f}x",
            ]
        )
    head = [
        "model",
        "kFLOP/step",
        *(NAMES[k] for k in COLS),
        "edgernn / ORT",
        "faster torch / edgernn",
        "numpy / edgernn",
    ]
    return (
        "### Single-stream step latency, microseconds: p50 (p99)\n\n"
        "One stream, one step per call, state fed back. edgernn is `Stream.step` (user units, "
        "scaling both ways, anomaly score); the others take pre-scaled inputs.\n\n"
        + table(head, rows)
    )


def per_step(s: dict, batch: int) -> str:
    """p50 (p99) microseconds per stream-step of one implementation's ticks of ``batch`` streams."""
    t = s["tick_us"]
    return f"{us(t['p50'] / batch)} ({us(t['p99'] / batch)})"


def streams_table(d: dict) -> str:
    rows = []
    for m in d["models"].values():
        line = m["line_1024"]
        s = m["streams_1024"]
        rows.append(
            [m["label"], f"{line:.0f}"]
            + [f"{per_step(s[k], 1024)} us, {100 * s[k]['gflops'] / line:.0f}%" for k in COLS]
        )
    head = ["model", "sgemm line GFLOP/s", *(NAMES[k] for k in COLS)]
    return (
        "### 1024 streams, one thread: microseconds per stream-step, p50 (p99), and % of the "
        "sgemm line\n\n"
        "One tick steps all 1024 streams once (edgernn: the stream pool's `step_batch`). The line "
        "is numpy sgemm at this model's shapes, (1024, I+H) x (I+H, G·H) per layer; "
        "% = achieved GFLOP/s (p50 tick) / line.\n\n" + table(head, rows)
    )


def sweep_table(d: dict) -> str:
    hw, rows = d["hardware"], []
    for b, s in d["sweep"].items():
        line = hw["matched_gflops"][str(b)]
        rows.append(
            [str(b), f"{line:.0f}"]
            + [f"{per_step(s[k], int(b))} us, {100 * s[k]['gflops'] / line:.0f}%" for k in COLS]
        )
    head = ["streams", "sgemm line GFLOP/s", *(NAMES[k] for k in COLS)]
    return (
        f"### {models.headline().label}: microseconds per stream-step, p50 (p99), over stream "
        "counts (% of the sgemm line)\n\n" + table(head, rows)
    )


def chunk_table(d: dict) -> str:
    names = ("edgernn", "bare_ort", "torch_native", "numpy")
    rows = [
        [str(c)]
        + [
            f"{us(s[k]['call_us']['p50'] / int(c))} ({us(s[k]['call_us']['p99'] / int(c))})"
            for k in names
        ]
        for c, s in d["chunks"].items()
    ]
    head = [
        "steps per call",
        "edgernn (`Stream.step` at 1, else `Stream.steps`)",
        "bare ORT `run()` over (1, T, F)",
        NAMES["torch_native"],
        "numpy cell (loop)",
    ]
    return (
        f"### {models.headline().label}, one stream, chunks: microseconds per step, p50 (p99) call "
        "/ T\n\n" + table(head, rows)
    )


def hardware_text(d: dict) -> str:
    hw = d["hardware"]
    matched = ", ".join(f"{b}: {g:.0f}" for b, g in hw["matched_gflops"].items())
    return (
        f"### Hardware line\n\n{hw['method']}, one thread: square {hw['square']['n']}^3 "
        f"**{hw['square']['gflops']:.0f} GFLOP/s**; at {models.headline().label}'s shapes per "
        "stream count "
        f"(GFLOP/s): {matched}."
    )


def startup_table(d: dict) -> str:
    rows = [
        [
            name,
            f"{r['first_output_s_median']:.3f} s (min {r['first_output_s_min']:.3f})",
            f"{r['peak_rss_mb_median']:.1f} MB",
        ]
        for name, r in d["startup"].items()
    ]
    n = d["settings"]["startup_runs"]
    return (
        f"### Start-up: `edgernn stream` to its first output line, and peak RSS (median of {n})\n\n"
        "`benchmarks/startup.py`'s measurement; runtime-only interpreter "
        f"`{d['runtime_python']}`.\n\n" + table(["process", "first output", "peak RSS"], rows)
    )
