"""Forecast and char LM quality of `edgernn train` with its defaults, on real data that ships
inside packages (``pip install -e ".[train,quality]"``), written to benchmarks/QUALITY.md.

    python benchmarks/quality.py [--only NAME] [--out benchmarks/QUALITY.md] [--json]

Each series (quality_data.SERIES) is split 70/15/15 in time, trained with
``edgernn train forecast`` defaults, and its exported graph is streamed over the whole series;
the test rows' one-step-ahead forecasts are scored (MAE, RMSE) next to the naive, seasonal naive
and seasonal AR baselines on the same rows (quality_baselines). The char LM is trained with
``edgernn train charlm`` defaults on standard library docstrings and its held-out bits per char,
streamed, are set against bz2's on the same text (quality_charlm). ``--charlm-steps`` and
``--charlm-timeout`` exist because the char LM's defaults can take far longer than 5 minutes on
a small machine; QUALITY.md says when they were used.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality_charlm as qc  # noqa: E402  (after the path)
import quality_classify as qk  # noqa: E402
import quality_data as qd  # noqa: E402
import quality_forecast as qf  # noqa: E402
import quality_report as qr  # noqa: E402

NAMES = (*qd.SERIES, "charlm", *qk.DATASETS)
DEFAULT_CHARLM_STEPS = 3500  # `edgernn train charlm --steps` default


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=NAMES, action="append", help="run only this (repeatable)")
    p.add_argument("--out", type=Path, default=HERE / "QUALITY.md", help="the markdown report")
    p.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    p.add_argument("--work", type=Path, default=HERE / ".cache" / "quality", help="CSVs, runs")
    p.add_argument("--charlm-chars", type=int, default=2_000_000, help="corpus size cap")
    p.add_argument("--charlm-steps", type=int, help="charlm --steps (default: its own)")
    p.add_argument("--charlm-timeout", type=float, help="stop charlm training after N seconds")
    p.add_argument(
        "--classify-seeds",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        default=(),
        help="classification: also rerun the defaults with these --seed values, e.g. 1,2,3,4",
    )
    p.add_argument("--no-plots", action="store_true", help="no benchmarks/quality/*.png")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    names = args.only or list(NAMES)
    results: list[qf.SeriesResult] = []
    skipped: dict[str, str] = {}
    charlm: qc.CharLMResult | None = None
    classify: list[qk.DatasetResult] = []
    for name in names:
        print(f"quality: {name} ...", file=sys.stderr, flush=True)
        if name in qk.DATASETS:
            try:
                classify.append(qk.run_dataset(name, args.work, args.classify_seeds))
            except qk.Unavailable as e:
                skipped[name] = str(e)
            continue
        if name == "charlm":
            charlm = qc.run_charlm(
                args.work, args.charlm_chars, args.charlm_steps, args.charlm_timeout
            )
            continue
        try:
            results.append(qf.run_series(qd.SERIES[name], args.work))
        except qd.Unavailable as e:
            skipped[name] = str(e)
    wall = time.perf_counter() - start
    plots = {} if args.no_plots else {r.name: qr.plot(r, HERE / "quality") for r in results}
    argv_shown = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/quality.py", *argv_shown])
    ran_classify = [n for n in names if n in qk.DATASETS]
    section = (
        qk.section(classify, {n: skipped.pop(n) for n in ran_classify if n in skipped}, command)
        if ran_classify
        else qk.existing(args.out)
    )
    if ran_classify and len(ran_classify) == len(names):  # classification only: splice it in
        text = qk.splice(args.out, section)
    else:
        text = render(results, skipped, charlm, plots, command, wall)
        text = text.rstrip() + ("\n\n" + "\n".join(section) + "\n" if section else "")
    args.out.write_text(text, encoding="utf-8")
    print(f"quality: wrote {args.out} ({wall:.0f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps(as_json(results, skipped, charlm, wall), indent=2))
    return 0


def render(
    results: list[qf.SeriesResult],
    skipped: dict[str, str],
    charlm: qc.CharLMResult | None,
    plots: dict[str, Path | None],
    command: str,
    wall: float,
) -> str:
    """The whole of QUALITY.md."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Forecast and char LM quality with the defaults",
        "",
        "Generated by `benchmarks/quality.py` (do not edit by hand: rerun it). Each series is",
        "split 70/15/15 in time like `edgernn train forecast`; the model is trained with the",
        "command's defaults, exported, and streamed with `edgernn.load(...).stream()` over the",
        "whole series from a zero state; each test row is scored on the forecast the stream gave",
        "one step earlier (report.json's own figure, computed the same way by the product, is",
        "shown next to it). The baselines forecast exactly the same test rows: naive (last",
        "value), seasonal naive (value one season earlier) and the seasonal AR (least squares on",
        "lags 1, 2, s, s+1 plus intercept, fitted on the training span). MAE and RMSE are in the",
        "data's units. Target: the model beats the seasonal AR on every series, trains in under",
        "5 minutes here, and the char LM's held-out bits per char are below bz2's.",
        "",
        f"- command: `{command}`",
        f"- date: {date}",
        f"- total wall time: {wall:.0f} s",
        *(f"- {k}: {v}" for k, v in qr.machine().items()),
        "",
        "## Summary",
        "",
        *qr.summary_table(results),
    ]
    if charlm is not None:
        lines += charlm_lines(charlm)
    for name, why in skipped.items():
        lines += [f"**{name} skipped**: {why}.", ""]
    lines += ["## Series", ""]
    for r in results:
        lines += qr.series_table(r)
        png = plots.get(r.name)
        if png is not None:
            lines += [f"![{r.name}](quality/{png.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def charlm_lines(c: qc.CharLMResult) -> list[str]:
    """The char LM section."""
    t = c.training
    steps = t.command[t.command.index("--steps") + 1] if "--steps" in t.command else None
    lines = [
        "## Char LM",
        "",
        f"Corpus: the docstrings of {c.corpus_files} standard library files "
        f"({c.corpus_chars} characters, sorted paths); held-out tail {c.held_out_chars} "
        "characters (the last 10%, charlm's validation split, never trained on).",
        "",
        "| model | held-out bits/char (streamed) | report val bits/char | bz2 bits/char | "
        "train s | below bz2? |",
        "|---|---:|---:|---:|---:|---|",
    ]
    label = "charlm defaults" if steps is None else f"charlm defaults but `--steps {steps}`"
    bpc = c.score.bits_per_char if c.score else None
    val = t.report["metrics"]["val_bits_per_char"] if t.report else None
    below = "yes" if bpc is not None and bpc < c.bz2_bpc else "no"
    lines += [
        f"| {label} | {qr.fmt(bpc)} | {qr.fmt(val)} | {qr.fmt(c.bz2_bpc)} | {t.seconds:.0f} | "
        f"{below} |",
        "",
    ]
    if t.report is not None:
        m = t.report["metrics"]
        per_step = m["seconds"] / m["steps"]
        lines += [
            f"Training ran {m['steps']} steps in {m['seconds']:.0f} s ({per_step:.2f} s/step)"
            + (
                "."
                if steps is None
                else f"; at that rate the default steps would take about "
                f"{DEFAULT_CHARLM_STEPS * per_step / 60:.0f} minutes here."
            ),
            "",
        ]
    else:
        lines += [f"Training gave no model (exit {t.returncode}):", "", f"    {t.error}", ""]
    if c.score is not None:
        lines += [
            f"Streamed {c.score.chars} characters one at a time in {c.score.seconds:.1f} s; "
            f"{c.score.unknown} held-out characters are outside the vocabulary (scored as "
            "<unk>, which flatters the model slightly; bz2 encodes them exactly).",
            "",
        ]
    return lines


def as_json(
    results: list[qf.SeriesResult],
    skipped: dict[str, str],
    charlm: qc.CharLMResult | None,
    wall: float,
) -> dict:
    """The results for --json: scores and timings, no arrays."""
    out: dict = {"wall_seconds": round(wall, 1), "skipped": skipped, "series": {}}
    for r in results:
        run = r.trained
        out["series"][r.name] = {
            "rows": r.rows,
            "season": r.season,
            "season_detected": r.season_detected,
            "scores": {k: {"mae": m, "rmse": s} for k, (m, s) in r.scores.items()},
            "report_test_mae": r.report_mae,
            "report_test_windows": r.report_n,
            "defaults_error": r.defaults.error or None,
            "train_command": run.command[1:] if run else None,
            "train_seconds": round(run.seconds, 1) if run else None,
            "seasonal_ar": asdict(r.ar) if r.ar else None,
        }
    if charlm is not None:
        out["charlm"] = {
            "corpus_chars": charlm.corpus_chars,
            "held_out_chars": charlm.held_out_chars,
            "bz2_bits_per_char": charlm.bz2_bpc,
            "bits_per_char": charlm.score.bits_per_char if charlm.score else None,
            "train_command": charlm.training.command[1:],
            "train_seconds": round(charlm.training.seconds, 1),
            "error": charlm.training.error or None,
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
