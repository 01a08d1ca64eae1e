"""Entity F1 of the tagger (issue 17): the BiLSTM-CRF on the shipped file's held-out part and on
a larger synthetic set, the streaming LSTM-CRF at lags 0, 1, 2, 4 against it, tagging speed
(API and CLI, sentences per second) and parity figures. Prints markdown for
benchmarks/RESULTS.md; ``--quick`` for a smoke run (tiny models, a few epochs).

    python benchmarks/tag_quality.py [--quick] [--out runs/tag-bench] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import edgernn
from edgernn.tasks.tag import Tagger
from edgernn.tasks.tag_metrics import scores
from edgernn.train.export.checks import VerifyOptions
from edgernn.train.registry import load_checkpoint
from edgernn.train.tag.data import load_splits
from edgernn.train.tag.export import verify_tagger
from edgernn.train.tag.synth import entity_sentences
from edgernn.train.tag.train import run_tag

LAGS = (0, 1, 2, 4)


def f1_row(name: str, s: dict) -> str:
    kinds = " | ".join(
        f"{s['per_type'].get(k, {}).get('f1', float('nan')):.3f}"
        for k in ("PER", "ORG", "LOC", "MISC")
    )
    acc = s["token_accuracy"]
    return f"| {name} | {s['micro']['f1']:.3f} | {kinds} | {acc:.3f} | {s['sentences']} |"


def speed(model: Path, sentences: list[list[str]], lag: int = 2) -> dict:
    tagger = Tagger(edgernn.load(model, provider="cpu"), lag=lag)
    texts = [" ".join(s) for s in sentences]
    tagger.tag_many(sentences[:50])  # warm up
    t0 = time.perf_counter()
    tagger.tag_texts(texts)
    batched = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for t in texts[:300]:
        tagger.tag_text(t)
    single = min(300, len(texts)) / (time.perf_counter() - t0)
    exe = Path(sys.executable).with_name("edgernn")
    t0 = time.perf_counter()
    r = subprocess.run(
        [str(exe), "tag", str(model), "--lag", str(lag)],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    cli_total = len(texts) / (time.perf_counter() - t0)
    cli_inner = r.stderr.strip().splitlines()[-1]
    return {
        "api_batched": batched,
        "api_one_by_one": single,
        "cli_with_startup": cli_total,
        "cli_summary": cli_inner,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="runs/tag-bench")
    ap.add_argument("--reuse", action="store_true", help="Reuse finished runs in --out.")
    a = ap.parse_args()
    out = Path(a.out)
    size = dict(hidden=16, embed=16, char_filters=16, epochs=2) if a.quick else {"epochs": 15}
    n_synth = 600 if a.quick else 3000
    # the larger set: fewer, larger batches (2,400 training sentences an epoch)
    big: dict = {} if a.quick else {"epochs": 6, "batch_size": 64}
    synth = f"synth:entities:{n_synth}"
    t0 = time.perf_counter()

    def trained(data: str, sub: str, **more: object) -> dict:
        """Train (or, with --reuse, read back a finished run's report)."""
        report = out / sub / "report.json"
        if a.reuse and report.is_file():
            return dict(json.loads(report.read_text()))
        return run_tag(data=data, out=out / sub, quiet=True, **{**size, **more})

    runs = {
        "shipped file (cc0:ner), BiLSTM-CRF": trained("cc0:ner", "cc0"),
        f"{synth}, BiLSTM-CRF": trained(synth, "synth", **big),
    }
    trained(synth, "synth-stream", streaming=True, **big)
    _, _, test, _ = load_splits(synth, None, None, seed=0)
    stream_model = edgernn.load(out / "synth-stream" / "model.onnx", provider="cpu")
    print(f"## Tagging entities (`benchmarks/tag_quality.py{' --quick' if a.quick else ''}`)\n")
    print(
        "Entity-level F1 (exact span and type, micro over types, CoNLL definition) on the "
        "held-out test sentences, from the exported graph and the runtime's numpy Viterbi.\n"
    )
    print("| model / data | micro F1 | PER | ORG | LOC | MISC | token acc | test sentences |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in runs.items():
        print(f1_row(name, r["metrics"]["test"]))
    unseen = entity_sentences(500, seed=99, new_names=1.0)  # every name off the lists
    bi_model = Tagger(edgernn.load(out / "synth" / "model.onnx", provider="cpu"))
    oov = scores([x.tags for x in unseen], bi_model.tag_many([x.tokens for x in unseen]))
    print(f1_row("synth BiLSTM-CRF on 500 sentences whose names are all invented", oov))
    bi = runs[f"{synth}, BiLSTM-CRF"]["metrics"]["test"]["micro"]["f1"]
    for lag in LAGS:
        tags = Tagger(stream_model, lag=lag).tag_many([s.tokens for s in test])
        s = scores([x.tags for x in test], tags)
        row = f1_row(f"{synth}, streaming LSTM-CRF, --lag {lag}", s)
        print(
            row.replace(
                f"| {s['micro']['f1']:.3f} |",
                f"| {s['micro']['f1']:.3f} ({s['micro']['f1'] - bi:+.3f}) |",
                1,
            )
        )
    full = Tagger(stream_model, lag=10**6).tag_many([s.tokens for s in test])
    print(
        f1_row(
            f"{synth}, streaming LSTM-CRF, whole-sentence Viterbi",
            scores([x.tags for x in test], full),
        )
    )
    print()
    sents = [s.tokens for s in test] * max(1, 2000 // max(1, len(test)))
    for name, sub in (("BiLSTM-CRF", "synth"), ("streaming, lag 2", "synth-stream")):
        sp = speed(out / sub / "model.onnx", sents)
        print(
            f"- speed, {name}: API {sp['api_batched']:,.0f} sentences/s batched (tag_texts), "
            f"{sp['api_one_by_one']:,.0f} one at a time (tag_text); CLI "
            f"{sp['cli_with_startup']:,.0f} sentences/s including start-up over "
            f"{len(sents):,} lines (its own summary: `{sp['cli_summary']}`)"
        )
    for name, sub in (("BiLSTM-CRF", "synth"), ("streaming", "synth-stream")):
        rep = json.loads((out / sub / "report.json").read_text())
        p = rep["export"]["parity"]
        ck = load_checkpoint(out / sub / "checkpoint.pt", "tag")
        checks = verify_tagger(
            edgernn.load(out / sub / "model.onnx", provider="cpu"), ck, VerifyOptions()
        )
        vit = next(c for c in checks if c.name.startswith("viterbi"))
        print(
            f"- parity, {name}: ONNX emissions vs PyTorch max abs error {p['max_abs_error']:.1e} "
            f"(tolerance {p['tolerance']:g}; {len(p['cases'])} shapes); runtime Viterbi vs torch "
            f"CRF: {vit.detail} identical"
        )

    print(
        f"\nMachine: {os.cpu_count()} cores (shared); total {time.perf_counter() - t0:.0f} s. "
        f"Command: `python benchmarks/tag_quality.py{' --quick' if a.quick else ''}`."
    )


if __name__ == "__main__":
    main()
