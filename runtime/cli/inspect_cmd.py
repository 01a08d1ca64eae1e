"""``edgernn inspect``: what a model is, read from its signature."""

from __future__ import annotations

import dataclasses
import json

import click

from edgernn.model import load


@click.command("inspect")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the whole signature as JSON.")
def command(model: str | None, as_json: bool) -> None:
    """Show MODEL's signature (default: the shipped sensor forecaster)."""
    m = load(model, provider="cpu")
    sig = m.signature
    if as_json:
        out = dataclasses.asdict(sig) | {"path": str(m.path), "model_id": m.model_id}
        click.echo(json.dumps(out, indent=2))
        return
    for label, value in _lines(m):
        click.echo(f"{label:<12} {value}")


def _lines(m) -> list[tuple[str, str]]:
    sig = m.signature
    parity = sig.parity
    prov = sig.provenance
    scalers = ", ".join(f"{c}: ({o:.4g}, {s:.4g})" for c, o, s in zip(sig.features, sig.input_scaler.offset, sig.input_scaler.scale))
    lines = [
        ("model", f"{m.path} ({m.path.stat().st_size / 1024:.1f} KiB, id {m.model_id})"),
        ("task", f"{sig.task}, {'causal (steppable)' if sig.causal else f'window of {sig.window}'}"),
        ("arch", f"{sig.arch} layers {list(sig.layers)}"),
        ("features", ", ".join(sig.features)),
        ("targets", ", ".join(sig.targets) + " (next step)"),
        ("scaling", f"{sig.input_scaler.kind} {scalers}"),
        ("window", f"{sig.window} steps in training"),
        ("states", "; ".join(f"{s.input} -> {s.output} {list(s.shape)}" for s in sig.states)),
        ("anomaly", f"|z| > {sig.anomaly_threshold:g} on one-step residuals"),
    ]
    if parity:
        lines.append(("parity", f"max abs error {parity.get('max_abs_error', float('nan')):.2e} "
                                f"(tolerance {parity.get('tolerance')}, exporter {parity.get('exporter')})"))
    q = parity.get("quantization")
    if q:
        ops = ", ".join(f"{k} x{v}" for k, v in q.get("quantized_ops", {}).items()) or "nothing"
        change = "not measured" if q.get("rms_change") is None else f"RMS change {q['rms_change']:.2%} of the target scale"
        lines.append(("reduced", f"{q['mode']} ({ops}); {change}; meant for --provider {q.get('provider')}"))
    test, naive = prov.get("metrics", {}).get("test"), prov.get("metrics", {}).get("naive_test")
    if test and naive:
        lines.append(("test error", f"MSE {test['mse']:.4g}, MAE {test['mae']:.4g} "
                                    f"(naive last value: MSE {naive['mse']:.4g}, MAE {naive['mae']:.4g})"))
    data = prov.get("data")
    if data:
        lines.append(("data", ", ".join(f"{k}={v}" for k, v in data.items() if k != "sha256") if isinstance(data, dict) else str(data)))
    if prov.get("created"):
        lines.append(("created", str(prov["created"])))
    return lines
