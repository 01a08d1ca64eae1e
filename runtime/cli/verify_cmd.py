"""``edgernn verify``: a model's state contract, and with ``--checkpoint`` its parity with PyTorch.

Every task is verified: forecasters, char LMs, classifiers and seq2seq models (whose decoder
file brings the encoder graph its signature names: both are checked).

Without ``--checkpoint`` only the runtime runs (``edgernn.checks``: no torch, no onnx).
With it, ``edgernn.train.export.verify`` adds PyTorch <-> ONNX Runtime <-> reference evaluator
parity (needs the train extra). The table (or ``--json``) is printed either way.

Exit codes: 0 every check passed; 7 at least one check failed (the same code as an export
that fails its parity check: the graph does not do what its source does); 2 bad usage, a
checkpoint of another kind than the model's (a char LM checkpoint for a classifier: the
report holds the one failing ``checkpoint kind`` check), or the train extra is missing;
3 the model cannot be loaded; 4 the provider cannot run; 5 the checkpoint is missing or
unreadable.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import click

from edgernn.checks import Check, VerifyReport, check_contract, check_graph_contract, tolerance_for
from edgernn.core.model import Model, load
from edgernn.core.placement import CpuFallbackWarning
from edgernn.core.providers import PROVIDERS
from edgernn.errors import ExportError, UsageError


@click.command("verify")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--checkpoint",
    "-c",
    default=None,
    type=click.Path(dir_okay=False),
    help="The checkpoint.pt the model was exported from (any task): adds parity checks against "
    "PyTorch.",
)
@click.option(
    "--keras",
    "keras_model",
    default=None,
    type=click.Path(dir_okay=False),
    help="The Keras model (.keras / .h5) the model was imported from: compares step by step "
    "against Keras itself (needs keras installed).",
)
@click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    default="cpu",
    show_default=True,
    help="Execution provider to verify on (cpu: the export's own reference conditions).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(
    model: str | None, checkpoint: str | None, keras_model: str | None, provider: str, as_json: bool
) -> None:
    """Verify MODEL (default: the shipped sensor forecaster)."""
    with warnings.catch_warnings():  # a GPU session's CPU fallback: one note line, not Python's two
        warnings.simplefilter("ignore", CpuFallbackWarning)
        m = load(model, provider=provider)
    if m.cpu_fallback:
        click.echo(f"note: on {m.provider}: {m.provider_note}", err=True)
    wrong_kind: Check | None = None
    if keras_model is not None and checkpoint is not None:
        raise UsageError("--keras and --checkpoint compare with different sources; pass one")
    if keras_model is not None:
        from edgernn.train.keras.against import verify_keras  # keras: only here

        report = verify_keras(m, keras_model)
    elif checkpoint is None:
        report = VerifyReport(str(m.path), contract_checks(m))
    else:
        from edgernn.train.export.verify import KIND_CHECK, verify_checkpoint  # torch: only here

        report = verify_checkpoint(m, checkpoint)
        wrong_kind = next((c for c in report.failed if c.name == KIND_CHECK), None)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else table(report))
    if (
        wrong_kind is not None
    ):  # the user passed the wrong file: usage, not a model that fails its checks
        raise UsageError(wrong_kind.detail)
    if not report.passed:
        names = ", ".join(c.name for c in report.failed)
        raise ExportError(
            f"verification failed: {len(report.failed)} of {len(report.checks)} checks did not "
            f"pass ({names})"
        )


def contract_checks(m: Model) -> list[Check]:
    """The runtime's state-contract checks (torch-free) on every graph of the model: a forecaster's
    streams, or the graph-level contract of a token or classifier model; a seq2seq decoder also
    checks the encoder graph its signature names ("encoder: ..." checks)."""
    tolerance = tolerance_for(m.signature)
    if m.signature.task == "forecast":
        return check_contract(m, tolerance=tolerance)
    checks = check_graph_contract(m, tolerance=tolerance)
    if m.signature.task != "seq2seq" or (
        m.signature.seq2seq is None or m.signature.seq2seq.role != "decoder"
    ):
        return checks
    from edgernn.tasks.seq2seq import (
        Seq2Seq,
    )  # finds and checks the encoder graph next to the decoder

    encoder = Seq2Seq(m).encoder
    own = check_graph_contract(encoder, tolerance=tolerance_for(encoder.signature))
    return [replace(c, name=f"encoder: {c.name}") for c in own] + [
        replace(c, name=f"decoder: {c.name}") for c in checks
    ]


def table(report: VerifyReport) -> str:
    """The checks as an aligned text table, with a one-line verdict under it."""
    width = max(len(c.name) for c in report.checks)
    lines = [f"{'check':<{width}}  result  max error  detail"]
    for c in report.checks:
        error = "-" if c.max_abs_error is None else f"{c.max_abs_error:.1e}"
        lines.append(
            f"{c.name:<{width}}  {'pass' if c.passed else 'FAIL':<6}  {error:<9}  {c.detail}"
        )
    against = f" against {report.checkpoint}" if report.checkpoint else ""
    if report.passed:
        lines.append(f"{report.model}: all {len(report.checks)} checks passed{against}")
    return "\n".join(lines)
