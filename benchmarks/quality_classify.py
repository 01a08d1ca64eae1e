"""Sequence classification quality on real motion data that ships inside ``aeon`` (GunPoint,
JapaneseVowels, PickupGestureWiimoteZ), with their official train/test splits.

``edgernn train classify --data X_TRAIN.ts --test-data X_TEST.ts`` is run with its defaults
(temporal CNN, five networks averaged on these small sets), with ``--members 1`` (one network)
and with ``--arch lstm`` (LSTM + attention + max pooling, the rest default); with
``--classify-seeds`` the defaults are rerun with other ``--seed`` values, and the table says
how far accuracy moves from one seed to the next. The .ts files are
read by edgernn's own reader. aeon's MiniRocket classifier is fitted on the same files (read by
aeon) as the reference practitioners use. The section is spliced into QUALITY.md between
``MARKER`` lines, so ``quality.py --only gunpoint ...`` regenerates it alone.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DATASETS = {  # --only name -> (aeon folder, target accuracy with the defaults)
    "gunpoint": ("GunPoint", 0.97),
    "japanesevowels": ("JapaneseVowels", 0.97),
    "pickupgesture": ("PickupGestureWiimoteZ", 0.80),
}
ARCHS = {  # model label -> flags beside the data
    "tcn (default)": [],
    "tcn, one network": ["--members", "1"],
    "lstm": ["--arch", "lstm"],
}
BEGIN, END = "<!-- classify: begin -->", "<!-- classify: end -->"
LIMIT_S = 300  # each default run must finish within 5 minutes


@dataclass
class Run:
    """One model on one data set."""

    model: str  # "tcn (default)", "lstm + attention" or "MiniRocket (aeon)"
    accuracy: float | None  # official test split
    seconds: float  # wall time (training + export + streamed test, or MiniRocket fit+predict)
    cpu_seconds: float | None = None  # CPU time of that work (user + system), all threads
    params: int | None = None  # trainable parameters
    epochs: str = ""  # epochs run / kept (the first network's, in an ensemble)
    step_us: float | None = None  # ClassifierStream.step p50 over the training sequences
    error: str = ""  # why there is no accuracy


@dataclass
class DatasetResult:
    """Every model on one data set."""

    name: str  # aeon folder name
    target: float  # test accuracy the defaults must reach
    info: dict = field(default_factory=dict)  # sizes, lengths, classes
    runs: list[Run] = field(default_factory=list)
    seeds: dict[int, float | None] = field(default_factory=dict)  # --seed -> defaults' accuracy


def data_dir() -> Path:
    """aeon's bundled data sets (raises ``Unavailable`` without aeon)."""
    try:
        import aeon.datasets
    except ImportError as e:
        raise Unavailable("aeon is not installed (pip install -e '.[quality]')") from e
    return Path(aeon.datasets.__file__).parent / "data"


class Unavailable(Exception):
    """The data or a package the benchmark needs is missing."""


def run_dataset(key: str, work: Path, seeds: tuple[int, ...] = ()) -> DatasetResult:
    """Every model on one data set; the defaults again with each of ``seeds`` (besides 0)."""
    name, target = DATASETS[key]
    folder = data_dir() / name
    train_ts, test_ts = folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts"
    result = DatasetResult(name, target, describe(train_ts, test_ts))
    for k, (label, flags) in enumerate(ARCHS.items()):
        print(f"  {name}: {label} ...", file=sys.stderr, flush=True)
        result.runs.append(train(label, train_ts, test_ts, work / name / f"model{k}", flags))
    print(f"  {name}: MiniRocket ...", file=sys.stderr, flush=True)
    result.runs.append(minirocket(train_ts, test_ts))
    result.seeds[0] = result.runs[0].accuracy
    for seed in (s for s in seeds if s != 0):
        print(f"  {name}: defaults with --seed {seed} ...", file=sys.stderr, flush=True)
        run = train("seed", train_ts, test_ts, work / name / "seed", ["--seed", str(seed)])
        result.seeds[seed] = run.accuracy
    return result


def describe(train_ts: Path, test_ts: Path) -> dict:
    from edgernn.train.classify.data import load_dataset

    tr, te = load_dataset(str(train_ts)), load_dataset(str(test_ts))
    lengths = [len(s) for s in tr.sequences + te.sequences]
    return {
        "train": len(tr.y),
        "test": len(te.y),
        "classes": len(tr.labels),
        "channels": len(tr.features),
        "length": f"{min(lengths)}-{max(lengths)}"
        if min(lengths) != max(lengths)
        else str(lengths[0]),
    }


def train(label: str, train_ts: Path, test_ts: Path, out: Path, flags: list[str]) -> Run:
    cmd = [
        sys.executable, "-m", "edgernn", "train", "classify", "--data", str(train_ts),
        "--test-data", str(test_ts), *flags, "--out", str(out), "--quiet", "--json",
    ]  # fmt: skip
    t0, c0 = time.perf_counter(), _children_cpu()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if p.returncode != 0:
        return Run(label, None, seconds, cpu, error=(p.stderr.strip().splitlines() or ["?"])[-1])
    report = json.loads(p.stdout)
    import torch

    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    params = sum(v.numel() for v in ckpt["state_dict"].values()) if "state_dict" in ckpt else None
    tr = report["training"]
    from edgernn.train.classify.compare import step_latency

    step = step_latency(out / "model.onnx", {"data": str(train_ts)}, 2000)["p50"]
    return Run(
        label,
        report["metrics"]["test"]["accuracy"],
        seconds,
        cpu,
        params,
        f"{tr['epochs_run']} / {tr['best_epoch']}",
        step,
    )


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def minirocket(train_ts: Path, test_ts: Path) -> Run:
    """aeon's MiniRocket (its multivariate-aware default, ridge classifier), on aeon's own
    reading of the same files (unequal lengths padded by aeon's pipeline)."""
    t0, c0 = time.perf_counter(), _self_cpu()
    try:
        from aeon.classification.convolution_based import MiniRocketClassifier
        from aeon.datasets import load_from_ts_file

        x_tr, y_tr = load_from_ts_file(str(train_ts))
        x_te, y_te = load_from_ts_file(str(test_ts))
        if isinstance(x_tr, list):  # unequal lengths: pad every series to the longest
            x_tr, x_te = _pad(x_tr, x_te)
        clf = MiniRocketClassifier(random_state=0, n_jobs=1).fit(x_tr, y_tr)
        acc = float((clf.predict(x_te) == y_te).mean())
    except Exception as e:  # report, never crash the benchmark
        return Run("MiniRocket (aeon)", None, time.perf_counter() - t0, error=str(e)[:120])
    return Run("MiniRocket (aeon)", acc, time.perf_counter() - t0, _self_cpu() - c0)


def _pad(*sets: list) -> list:
    """Unequal-length (C, T_i) series, each padded to the longest with its last value."""
    import numpy as np

    t = max(x.shape[1] for s in sets for x in s)
    return [
        np.stack([np.pad(x, ((0, 0), (0, t - x.shape[1])), mode="edge") for x in s]) for s in sets
    ]


def section(results: list[DatasetResult], skipped: dict[str, str], command: str) -> list[str]:
    """The classification section of QUALITY.md, between the markers."""
    lines = [
        BEGIN,
        "## Sequence classification (motion data bundled with aeon)",
        "",
        "`edgernn train classify --data X_TRAIN.ts --test-data X_TEST.ts` with its defaults: a",
        "temporal CNN (6 causal dilated convolution layers of 32, receptive field 127 steps) with",
        "attention and max pooling, streamed; under 2000 training sequences five such networks,",
        "each early-stopped on its own validation draw, averaged in one graph. Also one network",
        "(`--members 1`) and `--arch lstm` (LSTM 64 + attention + max pooling, five averaged).",
        "Test accuracy on the official test split, streamed through the exported graph one step",
        "at a time; aeon's MiniRocket on the same files is the reference. Step: p50 of one",
        "`ClassifierStream.step` (a whole ensemble) on one CPU thread. CPU seconds (user +",
        "system, all threads) are what the work cost; the target is the defaults' accuracy in",
        f"under {LIMIT_S // 60} minutes on 2 cores.",
        "",
        f"- command: `{command}`",
        "",
        "| data set | train / test | classes | channels | length | model | params | "
        "epochs run / kept | test accuracy | step us | wall s | CPU s | target met? |",
        "|---|---|---:|---:|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        i = r.info
        for k, run in enumerate(r.runs):
            head = (
                f"| {r.name} | {i['train']} / {i['test']} | {i['classes']} | {i['channels']} | "
                f"{i['length']} "
                if k == 0
                else "| | | | | "
            )
            acc = f"{run.accuracy:.3f}" if run.accuracy is not None else f"failed: {run.error}"
            met = ""
            if run.model.endswith("(default)") and run.accuracy is not None:
                cost = min(run.seconds, (run.cpu_seconds or run.seconds) / 2)
                ok = run.accuracy >= r.target and cost < LIMIT_S
                met = f"{'yes' if ok else 'no'} (≥ {r.target:.2f})"
            params = f"{run.params:,}" if run.params else ""
            cpu = "" if run.cpu_seconds is None else f"{run.cpu_seconds:.0f}"
            step = "" if run.step_us is None else f"{run.step_us:.0f}"
            lines.append(
                f"{head}| {run.model} | {params} | {run.epochs} | {acc} | {step} | "
                f"{run.seconds:.0f} | {cpu} | {met} |"
            )
    spread = [r for r in results if len(r.seeds) > 1]
    if spread:
        lines += ["", "The defaults with other `--seed` values (seed changes initial weights,",
                  "validation draws and shuffles; the test split is fixed):", ""]  # fmt: skip
        for r in spread:
            accs = [a for a in r.seeds.values() if a is not None]
            each = ", ".join(
                f"{s}: {'failed' if a is None else f'{a:.3f}'}" for s, a in r.seeds.items()
            )
            met = sum(a >= r.target for a in accs)
            lines.append(
                f"- {r.name}: mean {statistics.mean(accs):.3f} ± {statistics.pstdev(accs):.3f}, "
                f"{met} of {len(r.seeds)} seeds ≥ {r.target:.2f} ({each})"
            )
    for name, why in skipped.items():
        lines.append(f"\n**{name} skipped**: {why}.")
    return [*lines, "", END]


def splice(path: Path, lines: list[str]) -> str:
    """QUALITY.md's text with the classification section replaced (or appended)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return text.rstrip() + "\n\n" + block + "\n"


def existing(path: Path) -> list[str]:
    """The classification section already in QUALITY.md (kept when it is not rerun)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN not in text or END not in text:
        return []
    return [BEGIN, *text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n").splitlines(), END]
