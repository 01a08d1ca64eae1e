"""Verify an exported model against its checkpoint: PyTorch <-> ONNX Runtime <-> reference.

``edgernn verify MODEL --checkpoint CKPT`` runs the runtime's state-contract checks
(``edgernn.contract``), checks that the signature describes the checkpoint, then steps
random sequences (``steps`` >= 50 by default) one step at a time with the state fed back,
at batch 1 and 4, through ONNX Runtime (the loaded model, on its provider) and through
``onnx.reference.ReferenceEvaluator``, and compares every step's output and the final
states with PyTorch's full-sequence forward, and the two graph backends with each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import onnx

from edgernn.contract import Check, VerifyReport, check_contract, tolerance_for
from edgernn.model import Model
from edgernn.signature import Scaler, Signature
from edgernn.train.checkpoint import Checkpoint, load_checkpoint
from edgernn.train.parity import (GraphNames, Outputs, Runner, is_causal, max_abs_error, random_case,
                                  reference_runner, run_stepwise, short_reason, torch_runner)

DEFAULT_TOLERANCE = 1e-5


def verify_checkpoint(model: Model, checkpoint: str | Path | Checkpoint, *, steps: int = 50,
                      batches: Sequence[int] = (1, 4), tolerance: float | None = None, seed: int = 0,
                      contract: bool = True) -> VerifyReport:
    """Every check of ``model`` against ``checkpoint``; ``tolerance`` defaults to the export's."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    tol = tolerance if tolerance is not None else tolerance_for(model.signature)
    where = None if isinstance(checkpoint, Checkpoint) else str(checkpoint)
    report = VerifyReport(str(model.path), checkpoint=where)
    if contract:
        report.checks += check_contract(model, steps=steps, seed=seed, tolerance=tol)
    match = check_signature(model.signature, ckpt)
    report.checks.append(match)
    if match.passed and model.signature.parity.get("quantization"):
        report.checks.append(reduced_check(model, ckpt, tol, seed))
    elif match.passed:
        report.checks += parity_checks(model, ckpt, steps=steps, batches=batches, tolerance=tol, seed=seed)
    return report


def reduced_check(model: Model, ckpt: Checkpoint, tolerance: float, seed: int) -> Check:
    """An int8 / fp16 graph is held to what its export promised: RMS forecast change vs the
    float32 PyTorch model over a long stateful run on realistic inputs (not float32 parity)."""
    from edgernn.train.quantize import comparison_inputs, forecast_change

    sig, q = model.signature, model.signature.parity["quantization"]
    x_user, source = comparison_inputs(sig, int(q.get("steps", 2000)), seed + 7)
    x = sig.input_scaler.transform(x_user)[None]  # (1, T, F) model units
    zeros = [s.zeros(1) for s in sig.states]
    want = torch_runner(ckpt.model.eval())(x, zeros)[0]
    got = run_stepwise(model.run, x, zeros)[0]
    change = forecast_change(got, want, sig)
    ok = change["rms_change"] <= tolerance
    detail = (f"{q['mode']} graph vs float32 PyTorch, {x.shape[1]} stateful steps of {source}: RMS "
              f"{change['rms_change']:.2%}, max {change['max_abs_change']:.2%} of the target scale")
    return Check("reduced vs float32 (RMS)", ok, change["rms_change"],
                 detail if ok else f"{detail}: RMS over {tolerance:.2%}")


def check_signature(sig: Signature, ckpt: Checkpoint) -> Check:
    """The model's signature describes this checkpoint (architecture, columns, scaling)."""
    raw, cfg = ckpt.signature, ckpt.model.config

    def scaler(s: Scaler) -> tuple:
        return (s.kind, tuple(map(float, s.offset)), tuple(map(float, s.scale)))

    pairs = {
        "arch": (sig.arch, cfg.arch),
        "layers": (tuple(sig.layers), tuple(cfg.hidden)),
        "features": (tuple(sig.features), tuple(raw.get("features", ()))),
        "targets": (tuple(sig.targets), tuple(raw.get("targets", ()))),
        "input scaler": (scaler(sig.input_scaler), scaler(ckpt.input_scaler)),
        "target scaler": (scaler(sig.target_scaler), scaler(ckpt.target_scaler)),
    }
    wrong = [f"{k} {a!r} vs checkpoint {b!r}" for k, (a, b) in pairs.items() if a != b]
    if wrong:
        return Check("signature matches checkpoint", False, None, "; ".join(wrong))
    return Check("signature matches checkpoint", True, None, "arch, layers, features, targets and scalers agree")


def parity_checks(model: Model, ckpt: Checkpoint, *, steps: int, batches: Sequence[int], tolerance: float,
                  seed: int) -> list[Check]:
    """Three-way parity, stepping ``steps`` steps with the state fed back, per batch size."""
    sig, net = model.signature, ckpt.model.eval()
    names = GraphNames(sig.input_name, sig.output_name, tuple(s.input for s in sig.states),
                       tuple(s.output for s in sig.states))
    reference, note = _reference(model.path, names)
    torch_run, rng = torch_runner(net), np.random.default_rng(seed)
    how = f"{steps} steps one at a time, state fed back, random initial state"
    run = run_stepwise  # a window model (bidirectional) has no state: it is checked on whole windows
    if not is_causal(net):
        run, how = (lambda runner, x, states: runner(x, states)), f"whole windows of {steps} steps"
    checks = []
    for batch in batches:
        x, states = random_case(net.state_shapes(), net.config.n_features, batch, steps, rng, 0.5)
        want = torch_run(x, states)  # full sequence, (B, T, O) and final states
        ort = run(model.run, x, states)
        checks.append(_compare(f"torch vs onnxruntime, batch {batch}", ort, want, tolerance, f"{how}; ORT on {model.provider}"))
        if reference is not None:
            try:
                ref = run(reference, x, states)
            except Exception as e:  # an op it cannot run at these shapes, ...
                reference, note = None, short_reason(e)
                continue
            checks.append(_compare(f"torch vs reference, batch {batch}", ref, want, tolerance, how))
            checks.append(_compare(f"onnxruntime vs reference, batch {batch}", ort, ref, tolerance, how))
    if reference is None:
        checks.append(Check("reference evaluator", True, None, f"not run (not a failure of the model): {note}"))
    return checks


def _reference(path: Path, names: GraphNames) -> tuple[Runner | None, str]:
    """The reference evaluator on the graph, or None and why it cannot run it."""
    try:
        runner = reference_runner(onnx.load(str(path)), names)
        return runner, ""
    except Exception as e:  # an op it does not implement, ...
        return None, short_reason(e)


def _compare(name: str, got: Outputs, want: Outputs, tolerance: float, how: str) -> Check:
    error = max_abs_error(got, want)
    ok = error <= tolerance
    detail = how if ok else f"{how}: off by {error:.1e} (> {tolerance:.0e})"
    return Check(name, ok, error, detail)
