"""``edgernn inspect``: what a model is, read from its signature."""

from __future__ import annotations

import dataclasses
import json
import warnings
from typing import Any

import click

from edgernn.cli.common import json_option, provider_option
from edgernn.core.model import Model, load
from edgernn.core.placement import CpuFallbackWarning
from edgernn.signature import Signature


@click.command("inspect")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@json_option("Print the whole signature as JSON.")
@provider_option(
    help="Load the graph on this provider and show where its nodes run (and any CPU fallback)."
)
def command(model: str | None, as_json: bool, provider: str = "cpu") -> None:
    """Show MODEL's signature (default: the shipped sensor forecaster)."""
    with warnings.catch_warnings():  # the fallback is shown below instead
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(model, provider=provider)
    sig = m.signature
    if as_json:
        out = dataclasses.asdict(sig) | {
            "path": str(m.path),
            "model_id": m.model_id,
            "placement": _placement(m),
        }
        click.echo(json.dumps(out, indent=2))
        return
    for label, value in _lines(m) + _placement_lines(m):
        click.echo(f"{label:<12} {value}")


def _placement(m: Model) -> dict[str, Any]:
    """Where the graph runs: the provider edgernn got, its note, ORT's node assignment, fallback."""
    return {
        "provider": m.provider,
        "provider_note": m.provider_note,
        "nodes": m.placement,
        "cpu_fallback": m.cpu_fallback,
    }


def _placement_lines(m: Model) -> list[tuple[str, str]]:
    per_ep = "; ".join(
        f"{ep.removesuffix('ExecutionProvider')}: "
        + ", ".join(f"{op} x{k}" if k > 1 else op for op, k in ops.items())
        for ep, ops in m.placement.items()
    )
    lines = [
        ("provider", m.provider + (f" ({m.provider_note})" if m.provider_note else "")),
        ("placement", per_ep or "not recorded"),
    ]
    if m.cpu_fallback:
        lines.append(("fallback", ", ".join(m.cpu_fallback)))
    return lines


def _text_lines(m: Model) -> list[tuple[str, str]]:
    """What a non-forecast model is: task, layers, tokenizer, labels, parity, training facts."""
    sig, tok = m.signature, m.signature.tokenizer
    metrics = sig.provenance.get("metrics", {})
    lines = [
        (
            "task",
            f"{sig.task}, {'causal (steppable)' if sig.causal else f'window of {sig.window}'}",
        ),
        ("arch", _arch(sig)),
        (
            "tokenizer",
            f"{tok.kind}, {len(tok.vocab)} tokens, unknown -> {tok.unk!r}" if tok else "none",
        ),
    ]
    if sig.labels:
        lines.append(("labels", ", ".join(sig.labels)))
    lines.append(
        (
            "states",
            f"{len(sig.states)} tensors: "
            + "; ".join(f"{list(s.shape)}" for s in sig.states[:2])
            + " ...",
        )
    )
    if sig.parity:
        lines.append(
            (
                "parity",
                f"max abs error {sig.parity.get('max_abs_error', float('nan')):.2e} "
                f"(tolerance {sig.parity.get('tolerance')}, exporter {sig.parity.get('exporter')})",
            )
        )
    if "val_bits_per_char" in metrics:
        lines.append(
            ("quality", f"{metrics['val_bits_per_char']:.3f} bits per character on held-out text")
        )
    return lines


def _lines(m: Model) -> list[tuple[str, str]]:
    sig = m.signature
    scalers = ", ".join(
        f"{c}: ({o:.4g}, {s:.4g})"
        for c, o, s in zip(sig.features, sig.input_scaler.offset, sig.input_scaler.scale)
    )
    lines = [("model", f"{m.path} ({m.path.stat().st_size / 1024:.1f} KiB, id {m.model_id})")]
    if sig.task != "forecast":
        return lines + _text_lines(m)
    lines += [
        (
            "task",
            f"{sig.task}, {'causal (steppable)' if sig.causal else f'window of {sig.window}'}",
        ),
        ("arch", _arch(sig)),
        ("features", ", ".join(sig.features)),
        ("targets", ", ".join(sig.targets) + " (next step)"),
        ("scaling", f"{sig.input_scaler.kind} {scalers}"),
        ("window", f"{sig.window} steps in training"),
        ("states", "; ".join(f"{s.input} -> {s.output} {list(s.shape)}" for s in sig.states)),
        ("anomaly", f"|z| > {sig.anomaly_threshold:g} on one-step residuals"),
    ]
    if sig.calendar:
        lines.insert(
            4,
            (
                "calendar",
                f"{', '.join(sig.calendar)}: the last {2 * len(sig.calendar)} features, computed "
                "from each record's timestamp (UTC)",
            ),
        )
    return lines + _export_lines(sig) + _training_lines(sig)


def _export_lines(sig: Signature) -> list[tuple[str, str]]:
    """The export's parity check and, for an int8 / fp16 graph, what was reduced."""
    parity, lines = sig.parity, []
    if parity:
        lines.append(
            (
                "parity",
                f"max abs error {parity.get('max_abs_error', float('nan')):.2e} "
                f"(tolerance {parity.get('tolerance')}, exporter {parity.get('exporter')})",
            )
        )
    q = parity.get("quantization")
    if q:
        ops = ", ".join(f"{k} x{v}" for k, v in q.get("quantized_ops", {}).items()) or "nothing"
        change = (
            "not measured"
            if q.get("rms_change") is None
            else f"RMS change {q['rms_change']:.2%} of the target scale"
        )
        lines.append(
            ("reduced", f"{q['mode']} ({ops}); {change}; meant for --provider {q.get('provider')}")
        )
    return lines


def _training_lines(sig: Signature) -> list[tuple[str, str]]:
    """What training recorded: test error next to the naive baseline, the data, the date."""
    prov, lines = sig.provenance, []
    test, naive = prov.get("metrics", {}).get("test"), prov.get("metrics", {}).get("naive_test")
    if test and naive:
        lines.append(
            (
                "test error",
                f"MSE {test['mse']:.4g}, MAE {test['mae']:.4g} "
                f"(naive last value: MSE {naive['mse']:.4g}, MAE {naive['mae']:.4g})",
            )
        )
    ar = prov.get("metrics", {}).get("seasonal_ar_test")
    if ar:
        lines.append(
            ("baseline", f"seasonal autoregression: MSE {ar['mse']:.4g}, MAE {ar['mae']:.4g}")
        )
    data = prov.get("data")
    if data:
        lines.append(
            (
                "data",
                ", ".join(f"{k}={v}" for k, v in data.items() if k != "sha256")
                if isinstance(data, dict)
                else str(data),
            )
        )
    if prov.get("created"):
        lines.append(("created", str(prov["created"])))
    return lines


def _arch(sig: Signature) -> str:
    """The cell and layer sizes, plus what training recorded on top (norm, attention)."""
    model = sig.provenance.get("model") or {}
    extras = [
        name
        for name, on in (
            ("batch norm", model.get("norm") == "batch"),
            ("attention pooling", model.get("attention")),
            (_highway(model), model.get("highway_lags")),
        )
        if on
    ]
    arch = f"{sig.arch} layers {list(sig.layers)}" + "".join(f" + {e}" for e in extras)
    if model.get("train_mode"):
        arch += f"; trained {model['train_mode']}, {model.get('target_mode', 'level')} targets"
    return arch


def _highway(model: dict[str, object]) -> str:
    """The forecaster's linear highway, as its provenance records it."""
    lags = model.get("highway_lags") or []
    season = model.get("season")
    shown = ",".join(str(j) for j in lags) if isinstance(lags, list) else ""
    return f"linear highway on lags {shown}" + (f" (season {season})" if season else "")
