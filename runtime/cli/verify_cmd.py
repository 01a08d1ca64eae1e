"""``edgernn verify``: a model's state contract, and with ``--checkpoint`` its parity with PyTorch.

Without ``--checkpoint`` only the runtime runs (``edgernn.contract``: no torch, no onnx).
With it, ``edgernn.train.verify`` adds PyTorch <-> ONNX Runtime <-> reference evaluator
parity (needs the train extra). The table (or ``--json``) is printed either way.

Exit codes: 0 every check passed; 7 at least one check failed (the same code as an export
that fails its parity check: the graph does not do what its source does); 2 bad usage or
the train extra is missing; 3 the model cannot be loaded; 4 the provider cannot run;
5 the checkpoint is missing or unreadable.
"""

from __future__ import annotations

import json

import click

from edgernn.contract import VerifyReport, check_contract, check_graph_contract, tolerance_for
from edgernn.errors import ExportError, UsageError
from edgernn.model import load


@click.command("verify")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--checkpoint", "-c", default=None, type=click.Path(dir_okay=False),
              help="The checkpoint.pt the model was exported from: adds parity checks against PyTorch.")
@click.option("--provider", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="Execution provider to verify on (cpu: the export's own reference conditions).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
def command(model: str | None, checkpoint: str | None, provider: str, as_json: bool) -> None:
    """Verify MODEL (default: the shipped sensor forecaster)."""
    m = load(model, provider=provider)
    if checkpoint is None:
        contract = check_contract if m.signature.task == "forecast" else check_graph_contract
        report = VerifyReport(str(m.path), contract(m, tolerance=tolerance_for(m.signature)))
    elif m.signature.task != "forecast":
        raise UsageError(f"verify --checkpoint compares forecasters with PyTorch; {m.path.name} is a "
                         f"{m.signature.task!r} model, whose PyTorch parity was checked at export (signature.parity); "
                         "run verify without --checkpoint for its state contract")
    else:
        from edgernn.train.verify import verify_checkpoint  # torch: only here

        report = verify_checkpoint(m, checkpoint)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else table(report))
    if not report.passed:
        names = ", ".join(c.name for c in report.failed)
        raise ExportError(f"verification failed: {len(report.failed)} of {len(report.checks)} checks did not pass ({names})")


def table(report: VerifyReport) -> str:
    """The checks as an aligned text table, with a one-line verdict under it."""
    width = max(len(c.name) for c in report.checks)
    lines = [f"{'check':<{width}}  result  max error  detail"]
    for c in report.checks:
        error = "-" if c.max_abs_error is None else f"{c.max_abs_error:.1e}"
        lines.append(f"{c.name:<{width}}  {'pass' if c.passed else 'FAIL':<6}  {error:<9}  {c.detail}")
    against = f" against {report.checkpoint}" if report.checkpoint else ""
    if report.passed:
        lines.append(f"{report.model}: all {len(report.checks)} checks passed{against}")
    return "\n".join(lines)
