"""The checks ``edgernn verify --checkpoint`` runs on a graph, for every task: three-way parity
(PyTorch <-> ONNX Runtime <-> reference evaluator) and "the signature describes the checkpoint".

Each task's verifier (registered in ``edgernn.train.registry``) picks its graphs and the facts
its checkpoint states; the checking is here. A graph is stepped on random sequences one step at
a time with the state fed back, at each batch size, through ONNX Runtime (the loaded model, on
its provider) and through ``onnx.reference.ReferenceEvaluator``, and every step's output and
the final states are compared with PyTorch's full-sequence forward, and the two graph backends
with each other. Token models get int64 ids in [0, vocab).

Tolerances are the export's: ``tolerance_for(signature)`` for ONNX Runtime, and the reference
tolerance the export recorded (``signature.parity["reference_tolerance"]``) for the reference
evaluator. Each tensor's error is judged relative to its magnitude above 1
(``|got - want| / max(1, max |want|)``): a trained LSTM's cell state reaches ~30 after 50 random
tokens, where float32 rounding alone puts ONNX Runtime 1.1e-5 to 1.5e-5 from PyTorch (8 float32
spacings); an absolute 1e-5 would fail a correct graph there (the shipped char LM, 2x192). For
values within [-1, 1] this is the absolute tolerance. ``max_abs_error`` stays the raw number.

>>> want = (np.zeros((1, 2, 3)), [np.full((1, 1, 4), 30.0)])  # y (B, T, O), a state (1, B, H)
>>> error, size = scaled_error((want[0], [want[1][0] + 3e-5]), want)
>>> round(error, 12), size  # 3e-5 off on values of 30: 1e-6 relative
(1e-06, 30.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from torch import nn

from edgernn.checks import Check, check_graph_contract, tolerance_for
from edgernn.core.model import Model
from edgernn.signature import Scaler, Signature
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.parity import (
    GraphNames,
    Outputs,
    Runner,
    input_maker,
    is_causal,
    max_abs_error,
    random_case,
    reference_runner,
    run_stepwise,
    short_reason,
    torch_runner,
)

STATE_SCALE = 0.5  # std of the random initial states, as in the export's parity check
# (batch, rng) -> x, states
CaseMaker = Callable[[int, np.random.Generator], tuple[np.ndarray, list[np.ndarray]]]


@dataclass(frozen=True)
class VerifyOptions:
    """How hard a graph is checked against its checkpoint."""

    steps: int = 50  # steps per random sequence, stepped one at a time
    batches: tuple[int, ...] = (1, 4)  # batch sizes checked
    tolerance: float | None = None  # None: the export's own tolerance
    seed: int = 0  # seed of the random sequences
    contract: bool = True  # also run the runtime's state-contract checks


@dataclass(frozen=True)
class Graph:
    """One exported graph under test and the PyTorch module it must reproduce."""

    model: Model  # the loaded graph (ONNX Runtime, on the model's provider)
    net: nn.Module  # ``forward(x, *states) -> (y, *states)``
    role: str = ""  # "encoder" / "decoder" for a seq2seq model's two graphs; prefixes check names
    # its random cases and how they are described; None: ``random_cases``
    cases: Callable[[int], tuple[CaseMaker, str]] | None = None

    def name(self, check: str) -> str:
        return f"{self.role}: {check}" if self.role else check


# ---- a token or classifier model: every graph -----------------------------------------------
def module_checks(
    graphs: Sequence[Graph], facts: Callable[[str], dict], options: VerifyOptions
) -> list[Check]:
    """Contract of every graph, the signature against ``facts(role)`` (the checkpoint's), then
    three-way parity of every graph."""
    checks: list[Check] = []
    if options.contract:
        for g in graphs:
            sig = g.model.signature
            tol = options.tolerance if options.tolerance is not None else tolerance_for(sig)
            own = check_graph_contract(
                g.model, steps=options.steps, seed=options.seed, tolerance=tol
            )
            checks += [replace(c, name=g.name(c.name)) for c in own]
    match = check_fields(graphs, facts)
    checks.append(match)
    if not match.passed:
        return checks
    for g in graphs:
        cases, how = g.cases(options.steps) if g.cases else random_cases(g.net, options.steps)
        checks += graph_parity(g, cases, options, how)
    return checks


def check_fields(graphs: Sequence[Graph], facts: Callable[[str], dict]) -> Check:
    """Every graph's signature describes the checkpoint: task, arch, layers, inputs (token ids
    and vocabulary size, or features and their scaler), tokenizer, outputs, labels."""
    pairs: dict[str, tuple] = {}
    for g in graphs:
        have, want = graph_facts(g.model.signature), facts(g.role)
        prefix = f"{g.role} " if g.role else ""
        pairs.update({prefix + k: (have.get(k), want.get(k)) for k in {**have, **want}})
    names = ", ".join(graph_facts(graphs[-1].model.signature))
    both = f" for the {' and '.join(g.role for g in graphs)} graphs" if len(graphs) > 1 else ""
    return signature_check(pairs, f"{names} agree{both}")


def graph_facts(sig: Signature) -> dict:
    """What a token or classifier graph's signature says about the model it came from."""
    facts = {
        "task": sig.task,
        "arch": sig.arch,
        "layers": tuple(sig.layers),
        "outputs": int(sig.outputs[0].shape[-1]),
    }
    if sig.tokenizer is not None:
        facts["input"] = ("token ids", len(sig.tokenizer.vocab))
        facts["tokenizer"] = Vocab(
            sig.tokenizer.kind, tuple(sig.tokenizer.vocab), sig.tokenizer.unk
        )
    else:
        facts["input"] = ("features", int(sig.inputs[0].shape[-1]))
        facts["features"] = tuple(sig.features)
        facts["input scaler"] = scaler_facts(sig.input_scaler)
    if sig.task == "classify":
        facts["labels"] = tuple(sig.labels)
    return facts


def checkpoint_facts(task: str, ckpt: Checkpoint, outputs: int) -> dict:
    """The same facts from a checkpoint of ``task``: its module's config and its saved
    signature fields; ``outputs``: the graph's output width it implies."""
    cfg, fields = ckpt.model.config, ckpt.signature
    # seq2seq: one LSTM of ``hidden``
    layers = cfg.hidden if isinstance(cfg.hidden, tuple) else (cfg.hidden,)
    facts = {
        "task": task,
        "arch": getattr(cfg, "arch", "lstm"),
        "layers": tuple(layers),
        "outputs": int(outputs),
    }
    if getattr(cfg, "vocab_size", 0):
        tok = fields.get("tokenizer") or {}
        facts["input"] = ("token ids", int(cfg.vocab_size))
        facts["tokenizer"] = Vocab(tok.get("kind"), tuple(tok.get("vocab", ())), tok.get("unk"))
    else:
        facts["input"] = ("features", int(cfg.n_features))
        facts["features"] = tuple(fields.get("features", ()))
        facts["input scaler"] = (
            scaler_facts(Scaler(**fields["input_scaler"])) if "input_scaler" in fields else None
        )
    if task == "classify":
        facts["labels"] = tuple(fields.get("labels", ()))
    return facts


@dataclass(frozen=True)
class Vocab:
    """A tokenizer as a signature fact: equal only when every token is; shown by kind and size."""

    kind: str | None  # "char" or "word"
    tokens: tuple[str, ...]  # the vocabulary, id order
    unk: str | None  # the token unknown text maps to

    def __repr__(self) -> str:
        return f"{self.kind} tokenizer of {len(self.tokens)} tokens"


# ---- three-way parity of one graph ---------------------------------------------------------
def random_cases(net: nn.Module, steps: int) -> tuple[CaseMaker, str]:
    """Random inputs (features N(0, 1) in model units, or token ids in [0, vocab)) and random
    initial states; and how they are described."""
    make = input_maker(net)

    def cases(batch: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
        return random_case(net.state_shapes(), make, batch, steps, rng, STATE_SCALE)

    # a window model (bidirectional) has no state: it is checked on whole windows
    if not is_causal(net):
        return cases, f"whole windows of {steps} steps"
    return cases, f"{steps} steps one at a time, state fed back, random initial state{ids(net)}"


def ids(net: nn.Module) -> str:
    """ ", token ids in [0, V)" for a token model, else ""."""
    vocab = getattr(net.config, "vocab_size", 0)
    return f", token ids in [0, {vocab})" if vocab else ""


def graph_parity(graph: Graph, cases: CaseMaker, options: VerifyOptions, how: str) -> list[Check]:
    """torch vs onnxruntime, torch vs reference and onnxruntime vs reference, per batch size."""
    model, net = graph.model, graph.net.eval()
    sig, tolerance = model.signature, options.tolerance
    tol = tolerance if tolerance is not None else tolerance_for(sig)
    recorded = float(sig.parity.get("reference_tolerance") or tol)
    ref_tol = tolerance if tolerance is not None else max(tol, recorded)
    names = GraphNames(
        sig.input_name,
        sig.output_name,
        tuple(s.input for s in sig.states),
        tuple(s.output for s in sig.states),
    )
    reference, note = _reference(model.path, names)
    torch_run, rng = torch_runner(net), np.random.default_rng(options.seed)
    run = run_stepwise if is_causal(net) else (lambda runner, x, states: runner(x, states))
    checks: list[Check] = []
    for batch in options.batches:
        x, states = cases(batch, rng)
        want = torch_run(x, states)  # full sequence, (B, T, O) and final states
        ort = run(model.run, x, states)
        where = f"{how}; ORT on {model.provider}"
        checks.append(
            _compare(graph.name(f"torch vs onnxruntime, batch {batch}"), ort, want, tol, where)
        )
        if reference is None:
            continue
        try:
            ref = run(reference, x, states)
        except Exception as e:  # an op it cannot run at these shapes, ...
            reference, note = None, short_reason(e)
            continue
        for pair, got, expected in (
            ("torch vs reference", ref, want),
            ("onnxruntime vs reference", ort, ref),
        ):
            checks.append(
                _compare(graph.name(f"{pair}, batch {batch}"), got, expected, ref_tol, how)
            )
    if reference is None:
        detail = f"not run (not a failure of the model): {note}"
        checks.append(Check(graph.name("reference evaluator"), True, None, detail))
    return checks


def _reference(path: Path, names: GraphNames) -> tuple[Runner | None, str]:
    """The reference evaluator on the graph, or None and why it cannot run it."""
    try:
        runner = reference_runner(onnx.load(str(path)), names)
        return runner, ""
    except Exception as e:  # an op it does not implement, ...
        return None, short_reason(e)


def scaled_error(got: Outputs, want: Outputs) -> tuple[float, float]:
    """(largest |got - want| / max(1, largest |want|) of each tensor, over y and every state; the
    largest |want| of the tensor with the largest absolute error). Rounding grows with the
    values, so an LSTM cell state of ~30 is held to its float32 precision rather than to an
    absolute 1e-5. (inf, nan) when shapes differ."""
    if not math.isfinite(max_abs_error(got, want)):
        return math.inf, math.nan
    rows = [
        (float(np.max(np.abs(p - q), initial=0.0)), max(1.0, float(np.max(np.abs(q), initial=0.0))))
        for p, q in [(got[0], want[0]), *zip(got[1], want[1])]
    ]
    errors = np.array([error for error, _ in rows])
    sizes = np.array([size for _, size in rows])
    # np.max / argmax: nan wins
    return float(np.max(errors / sizes)), float(sizes[int(np.argmax(errors))])


def _compare(name: str, got: Outputs, want: Outputs, tolerance: float, how: str) -> Check:
    error = max_abs_error(got, want)
    scaled, scale = scaled_error(got, want)
    if not scaled <= tolerance:
        relative = f" on values up to {scale:.0f} ({scaled:.1e} relative)" if scale > 1 else ""
        return Check(name, False, error, f"{how}: off by {error:.1e}{relative} (> {tolerance:.0e})")
    if error > tolerance:  # within tolerance only relative to the values' size: say so
        how = (
            f"{how}; {error:.1e} on values up to {scale:.0f}: "
            f"{scaled:.1e} relative (<= {tolerance:.0e})"
        )
    return Check(name, True, error, how)


# ---- the signature check -------------------------------------------------------------------
def scaler_facts(s: Scaler) -> tuple:
    return (s.kind, tuple(map(float, s.offset)), tuple(map(float, s.scale)))


def signature_check(pairs: dict[str, tuple], agreed: str) -> Check:
    """One check over (graph value, checkpoint value) pairs, naming every difference."""
    wrong = [_difference(k, a, b) for k, (a, b) in pairs.items() if a != b]
    if wrong:
        return Check("signature matches checkpoint", False, None, "; ".join(wrong))
    return Check("signature matches checkpoint", True, None, agreed)


def _difference(key: str, graph: object, ckpt: object) -> str:
    text = f"{key} {graph!r} vs checkpoint {ckpt!r}"
    return f"{text} (other tokens)" if repr(graph) == repr(ckpt) else text
