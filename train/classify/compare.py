"""Classifier architectures side by side on one data set: test accuracy, parameters and the
runtime's step latency. Behind ``edgernn compare --task classify --data ...``.

Each architecture is trained by ``run_classify`` (the ``edgernn train classify`` defaults but
the architecture) into a temporary folder; its test accuracy is the streamed one of the exported
graph, and its latency is ``ClassifierStream.step`` (one record or token per call, CPU, one
thread) over the test sequences, after a warm-up.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import edgernn
from edgernn.bench.machine import machine
from edgernn.core.latency import percentiles
from edgernn.errors import UsageError
from edgernn.tasks.classify import ClassifierStream
from edgernn.train.classify.data import load_dataset
from edgernn.train.classify.model import ARCHS
from edgernn.train.classify.train import run_classify
from edgernn.train.registry import load_checkpoint

DEFAULT_ARCHS = "tcn,lstm"
WARMUP = 50  # steps run before timing


def parse_archs(text: str) -> tuple[str, ...]:
    """``tcn,lstm`` -> ("tcn", "lstm"); one line naming an unknown one.

    >>> parse_archs("tcn, gru")
    ('tcn', 'gru')
    """
    archs = tuple(a.strip() for a in text.split(",") if a.strip())
    bad = [a for a in archs if a not in ARCHS]
    if bad or not archs:
        raise UsageError(
            f"--archs {text!r}: unknown {', '.join(bad) or '(none given)'}; classifiers are "
            f"{', '.join(ARCHS)}"
        )
    return archs


def compare_classifiers(
    archs: tuple[str, ...],
    options: dict,
    steps: int,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    """Train, export and time each architecture; ``options``: ``run_classify``'s (data, label,
    epochs, ...), the same for each."""
    if steps < 10:
        raise UsageError(f"--steps must be >= 10, got {steps}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgernn-compare-") as tmp:
        for arch in archs:
            progress(f"training {arch} ...")
            t0 = time.perf_counter()
            out = Path(tmp) / arch
            report = run_classify(**options, arch=arch, out=out, quiet=True)
            seconds = time.perf_counter() - t0
            model = load_checkpoint(out / "checkpoint.pt", "classify").model
            progress(f"timing {arch} ...")
            rows.append(
                {
                    "arch": arch,
                    "layers": report["layers"],
                    "pooling": model.config.pooling,
                    "params": sum(p.numel() for p in model.parameters()),
                    "onnx_bytes": (out / "model.onnx").stat().st_size,
                    "test_accuracy": report["metrics"]["test"].get("accuracy"),
                    "majority_accuracy": report["baseline"]["majority"]["test_accuracy"],
                    "epochs_run": report["training"]["epochs_run"],
                    "train_seconds": round(seconds, 1),
                    "step_us": step_latency(out / "model.onnx", options, steps),
                }
            )
    return {"data": options["data"], "steps": steps, "machine": machine(), "archs": rows}


def step_latency(onnx: Path, options: dict, steps: int) -> dict[str, float]:
    """``ClassifierStream.step`` per call over the data's sequences (cycled), in us."""
    stream = ClassifierStream(edgernn.load(onnx, provider="cpu"))
    data = load_dataset(
        options["data"],
        **{k: options[k] for k in ("text", "label", "seq_id", "features") if options.get(k)},
    )
    if data.kind == "text":
        assert stream.tokenizer is not None
        values: list = [t for s in data.sequences for t in stream.tokenizer.tokens(s)]
    else:
        values = [row for s in data.sequences for row in s]
    if not values:
        raise UsageError(f"--data {options['data']!r} has no steps to time")
    stream.reset()
    for v in values[:WARMUP]:
        stream.step(v)
    ns = np.empty(steps, dtype=np.int64)
    for i in range(steps):
        v = values[i % len(values)]
        t0 = time.perf_counter_ns()
        stream.step(v)
        ns[i] = time.perf_counter_ns() - t0
    return percentiles(ns, ("p50", "p99", "mean"))


def render(result: dict) -> str:
    """The comparison as a text table."""
    head = ["arch", "layers", "params", "test accuracy", "majority", "step p50 us", "step p99 us",
            "epochs", "train s"]  # fmt: skip
    rows = [
        [
            r["arch"] + r["pooling"],
            ",".join(map(str, r["layers"])),
            f"{r['params']:,}",
            "n/a" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}",
            "n/a" if r["majority_accuracy"] is None else f"{r['majority_accuracy']:.3f}",
            f"{r['step_us']['p50']:.1f}",
            f"{r['step_us']['p99']:.1f}",
            str(r["epochs_run"]),
            f"{r['train_seconds']:.0f}",
        ]
        for r in result["archs"]
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in [head, *rows]]
    return "\n".join([f"classifiers on {result['data']}", *lines])
