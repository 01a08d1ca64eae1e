"""``edgernn verify --checkpoint`` for a forecaster: its stream contract, the signature against
the checkpoint, then float32 three-way parity (``edgernn.train.export.checks``), or for an
int8 / fp16 graph the RMS change its export promised."""

from __future__ import annotations

from edgernn.checks import Check, check_contract, tolerance_for
from edgernn.core.model import Model
from edgernn.signature import Signature
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.checks import (
    Graph,
    VerifyOptions,
    graph_parity,
    random_cases,
    scaler_facts,
    signature_check,
)
from edgernn.train.export.parity import run_stepwise, torch_runner
from edgernn.train.export.reduced import comparison_inputs, forecast_change


def verify_forecaster(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Contract, signature, then float32 three-way parity, or the RMS check of a reduced
    graph."""
    tolerance = options.tolerance
    tol = tolerance if tolerance is not None else tolerance_for(model.signature)
    checks = []
    if options.contract:
        checks = check_contract(model, steps=options.steps, seed=options.seed, tolerance=tol)
    match = check_signature(model.signature, ckpt)
    checks.append(match)
    if match.passed and model.signature.parity.get("quantization"):
        checks.append(reduced_check(model, ckpt, tol, options.seed))
    elif match.passed:
        graph = Graph(model, ckpt.model.eval())
        cases, how = random_cases(graph.net, options.steps)
        checks += graph_parity(graph, cases, options, how)
    return checks


def reduced_check(model: Model, ckpt: Checkpoint, tolerance: float, seed: int) -> Check:
    """An int8 / fp16 graph is held to what its export promised: RMS forecast change vs the
    float32 PyTorch model over a long stateful run on realistic inputs (not float32 parity)."""
    sig, q = model.signature, model.signature.parity["quantization"]
    x_user, source = comparison_inputs(sig, int(q.get("steps", 2000)), seed + 7)
    x = sig.input_scaler.transform(x_user)[None]  # (1, T, F) model units
    zeros = [s.zeros(1) for s in sig.states]
    want = torch_runner(ckpt.model.eval())(x, zeros)[0]
    got = run_stepwise(model.run, x, zeros)[0]
    change = forecast_change(got, want, sig)
    ok = change["rms_change"] <= tolerance
    detail = (
        f"{q['mode']} graph vs float32 PyTorch, {x.shape[1]} stateful steps of {source}: RMS "
        f"{change['rms_change']:.2%}, max {change['max_abs_change']:.2%} of the target scale"
    )
    return Check(
        "reduced vs float32 (RMS)",
        ok,
        change["rms_change"],
        detail if ok else f"{detail}: RMS over {tolerance:.2%}",
    )


def check_signature(sig: Signature, ckpt: Checkpoint) -> Check:
    """The model's signature describes this checkpoint (architecture, columns, scaling)."""
    raw, cfg = ckpt.signature, ckpt.model.config
    pairs = {
        "arch": (sig.arch, cfg.arch),
        "layers": (tuple(sig.layers), tuple(cfg.hidden)),
        "features": (tuple(sig.features), tuple(raw.get("features", ()))),
        "targets": (tuple(sig.targets), tuple(raw.get("targets", ()))),
        "input scaler": (scaler_facts(sig.input_scaler), scaler_facts(ckpt.input_scaler)),
        "target scaler": (scaler_facts(sig.target_scaler), scaler_facts(ckpt.target_scaler)),
    }
    return signature_check(pairs, "arch, layers, features, targets and scalers agree")
