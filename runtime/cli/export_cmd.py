"""``edgernn export``: a training checkpoint -> a verified streaming .onnx (needs the train extra).

The graph is written only after it matched PyTorch within ``--tolerance`` at every
verification shape (see ``edgernn.train.export``). Exit codes: 0 written; 2 bad usage or
the train extra is missing; 5 the checkpoint is missing or unreadable; 7 no exporter passed
the parity check (the per-shape report follows the error line; nothing was written).
"""

from __future__ import annotations

import json

import click

from edgernn.errors import ExportError
from edgernn.signature import Signature


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Where to write the .onnx (only once it has passed verification).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-5, show_default=True,
              help="Max abs error vs PyTorch, model units, over outputs and states.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the failure report) as JSON on stdout.")
def command(checkpoint: str, out: str, tolerance: float, as_json: bool) -> None:
    """Export CHECKPOINT (a checkpoint.pt from `edgernn train`) to a streaming ONNX graph."""
    from edgernn.train.export import ExportConfig, export_checkpoint  # torch: only here

    try:
        sig = export_checkpoint(checkpoint, out, ExportConfig(tolerance=tolerance))
    except ExportError as e:
        if as_json:
            failure = {"ok": False, "out": out, "error": str(e).splitlines()[0], "candidates": getattr(e, "candidates", [])}
            click.echo(json.dumps(failure, indent=2))
        raise
    if as_json:
        click.echo(json.dumps({"ok": True, "out": out, "arch": sig.arch, "layers": list(sig.layers),
                               "features": list(sig.features), "targets": list(sig.targets), "parity": sig.parity}, indent=2))
        return
    for line in summary_lines(sig, out):
        click.echo(line)


def summary_lines(sig: Signature, out: str) -> list[str]:
    """A short human summary of what was written and how well it matched."""
    p = sig.parity
    shapes = " ".join(f"({b}, {t})" for b, t in p["shapes"])
    ref = p.get("reference_max_abs_error")
    ref_text = f"max abs error {ref:.1e}" if ref is not None else f"not run ({p.get('reference_note', 'unknown reason')})"
    return [
        f"wrote {out}: {sig.arch} {list(sig.layers)}, {', '.join(sig.features)} -> {', '.join(sig.targets)}",
        f"parity vs PyTorch: max abs error {p['max_abs_error']:.1e} <= {p['tolerance']:g} on onnxruntime, "
        f"step by step and in one chunk, at (batch, length) {shapes}",
        f"reference evaluator: {ref_text}",
        f"exporter: {p['exporter']}, opset {p['opset']}",
    ]
