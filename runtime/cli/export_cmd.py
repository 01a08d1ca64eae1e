"""``edgernn export``: a training checkpoint -> a verified streaming .onnx (needs the train extra).

The graph is written only after it matched PyTorch within ``--tolerance`` at every
verification shape (see ``edgernn.train.export.graph``). ``--quantize int8`` (CPU provider) and
``--precision fp16`` (CUDA provider) then reduce the verified float32 graph and measure the
forecast change against it over a long stateful run (``edgernn.train.export.reduced``). Exit
codes: 0 written; 2 bad usage or the train extra is missing; 5 the checkpoint is missing or
unreadable; 7 no exporter passed the parity check (the per-shape report follows the error
line), or the reduced graph changed the forecast by more than ``--quant-tolerance`` (and
``--force`` was not given); nothing was written then.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from edgernn.errors import ExportError, UsageError
from edgernn.signature import TOLERANCES, Signature
from edgernn.tasks.registry import task_of

DEFAULT_QUANT_TOLERANCE = TOLERANCES.reduced  # what edgernn.train.export.quantize defaults to


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the .onnx (only once it has passed verification).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=TOLERANCES.parity,
    show_default=True,
    help="Max abs error vs PyTorch, model units, over outputs and states.",
)
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    default=None,
    help="int8: dynamic int8 weights for --provider cpu. Applies to LSTM layers and the dense "
    "head; GRU/RNN layers stay float32 (only their dense head is quantized).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "fp16"]),
    default="fp32",
    show_default=True,
    help="fp16: float16 recurrent layers with float32 inputs, outputs and states; meant for "
    "--provider cuda.",
)
@click.option(
    "--quant-tolerance",
    type=click.FloatRange(min=0),
    default=DEFAULT_QUANT_TOLERANCE,
    show_default=True,
    help="Max RMS change of the forecast vs the float32 graph over a long stateful run, "
    "as a fraction of the target's scale (its training std).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write a --quantize / fp16 graph even over --quant-tolerance or when it cannot be "
    "measured here (recorded as forced). Never overrides the float32 parity check.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the result (or the failure report) as JSON on stdout.",
)
@click.pass_context
def command(
    ctx: click.Context,
    checkpoint: str,
    out: str,
    tolerance: float,
    quantize: str | None,
    precision: str,
    quant_tolerance: float,
    force: bool,
    as_json: bool,
) -> None:
    """Export CHECKPOINT (a checkpoint.pt from any `edgernn train` task) to a streaming ONNX graph.

    A seq2seq checkpoint writes the decoder step graph to OUT and the encoder next to it
    (OUT with .encoder.onnx). --quantize, --precision and --tolerance are forecaster options."""
    _check_reduction_options(ctx, quantize, precision)
    from edgernn.train.export.config import ExportConfig  # torch: only here
    from edgernn.train.registry import export_checkpoint

    config = ExportConfig(
        tolerance=tolerance,
        quantize=quantize,
        precision=precision,
        quant_tolerance=quant_tolerance,
        force=force,
    )
    try:
        sig = export_checkpoint(checkpoint, out, config)
    except ExportError as e:
        if as_json:
            failure = {
                "ok": False,
                "out": out,
                "error": str(e).splitlines()[0],
                "candidates": e.candidates or [],
            }
            if e.quantization is not None:
                failure["quantization"] = e.quantization
            click.echo(json.dumps(failure, indent=2))
        raise
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "out": out,
                    "task": sig.task,
                    "arch": sig.arch,
                    "layers": list(sig.layers),
                    "features": list(sig.features),
                    "targets": list(sig.targets),
                    "size_bytes": os.path.getsize(out),
                    "parity": sig.parity,
                },
                indent=2,
            )
        )
        return
    for line in summary_lines(sig, out):
        click.echo(line)


def _check_reduction_options(ctx: click.Context, quantize: str | None, precision: str) -> None:
    """--force and --quant-tolerance only mean something with --quantize or --precision fp16."""
    if quantize or precision == "fp16":
        return
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("force", "quant_tolerance")
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        verb = "apply" if len(given) > 1 else "applies"
        raise UsageError(
            f"{' and '.join(given)} only {verb} with --quantize int8 or --precision fp16 "
            "(the float32 parity check is set with --tolerance)"
        )


def summary_lines(sig: Signature, out: str) -> list[str]:
    """A short human summary of what was written and how well it matched."""
    p = sig.parity
    shapes = " ".join(f"({b}, {t})" for b, t in p["shapes"])
    ref = p.get("reference_max_abs_error")
    ref_text = (
        f"max abs error {ref:.1e}"
        if ref is not None
        else f"not run ({p.get('reference_note', 'unknown reason')})"
    )
    head = "parity of the float32 graph vs PyTorch" if "quantization" in p else "parity vs PyTorch"
    lines = [
        f"wrote {out}: {sig.task} {sig.arch} {list(sig.layers)}, {_io(sig)}",
        f"{head}: max abs error {p['max_abs_error']:.1e} <= {p['tolerance']:g} on onnxruntime, "
        f"step by step and in one chunk, at (batch, length) {shapes}",
        f"reference evaluator: {ref_text}",
        f"exporter: {p['exporter']}, opset {p['opset']}",
    ]
    if "quantization" in p:
        lines += quantization_lines(p["quantization"], os.path.getsize(out))
    return lines


def _io(sig: Signature) -> str:
    """What goes in and comes out, in the user's words: columns, or tokens and labels."""
    source = (
        f"{sig.tokenizer.kind} tokens ({len(sig.tokenizer.vocab)})"
        if sig.tokenizer
        else ", ".join(sig.features)
    )
    return f"{source} -> {task_of(sig).describe_outputs(sig)}"


def quantization_lines(q: dict[str, Any], size: int) -> list[str]:
    """What was reduced, the accuracy change vs float32, side effects, size and provider."""
    ops = ", ".join(f"{k} x{v}" for k, v in q["quantized_ops"].items()) or "nothing"
    kept = ", ".join(f"{k} x{v}" for k, v in q["float32_ops"].items()) or "nothing"
    verb = "quantized to int8" if q["mode"] == "int8-dynamic" else "converted to float16"
    lines = [f"{q['mode']}: {verb}: {ops}; kept float32: {kept}", f"  {q['note']}"]
    if q["rms_change"] is None:
        lines.append(f"accuracy change vs float32: not measured ({q['not_measured']})")
    else:
        per_target = ", ".join(
            f"{name} RMS {c['rms_change']:.3g} max {c['max_abs_change']:.3g}"
            for name, c in q["per_target"].items()
        )
        verdict = "FORCED past" if q["forced"] else "within"
        lines.append(
            f"accuracy change vs float32 over {q['steps']} stateful steps ({q['inputs']}; "
            f"{q['measured_with']}): "
            f"RMS {q['rms_change']:.2%} of the target scale, max {q['max_abs_change']:.2%} "
            f"({verdict} tolerance {q['tolerance']:.2%}); {per_target}"
        )
        if max(q["chunk_vs_steps_change"], q["batch_coupling_change"]) > TOLERANCES.parity:
            lines.append(
                f"  chunks and batched streams differ from single steps by up to "
                f"{max(q['chunk_vs_steps_change'], q['batch_coupling_change']):.2%} of the target "
                "scale (activations are quantized per call)"
            )
    if q["forced"] and q["rms_change"] is None:
        lines.append("  written unmeasured because of --force")
    graph, float32 = q["bytes"] / 1024, q["float32_bytes"] / 1024
    lines.append(
        f"size: {size / 1024:.1f} KiB file; graph {graph:.1f} KiB vs {float32:.1f} KiB in float32 "
        f"({graph / float32:.2f}x); meant for --provider {q['provider']}"
    )
    return lines
