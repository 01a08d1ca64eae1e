"""Verify an exported model against its checkpoint: PyTorch <-> ONNX Runtime <-> reference.

``edgernn verify MODEL --checkpoint CKPT`` works for every task: forecasters, the char LM
(``generate``), classifiers (sensor or text) and seq2seq models (the decoder step graph and the
encoder graph named in its signature). It

- checks the checkpoint is of the kind the model's task was trained as (a char LM checkpoint
  cannot verify a classifier: a single failing ``checkpoint kind`` check, and nothing else);
- runs the runtime's state-contract checks (``edgernn.checks``) on every graph;
- checks that the signature describes the checkpoint (architecture, layers, inputs, tokenizer,
  classes, scalers: whatever the task records);
- steps random sequences (``steps`` >= 50 by default) one step at a time with the state fed
  back, at batch 1 and 4, through ONNX Runtime (the loaded model, on its provider) and through
  ``onnx.reference.ReferenceEvaluator``, and compares every step's output and the final states
  with PyTorch's full-sequence forward, and the two graph backends with each other. Token
  models get int64 ids in [0, vocab). A seq2seq decoder is stepped on teacher-forced random
  tokens from the PyTorch encoder's final state on a random source line.

Tolerances are the export's: ``tolerance_for(signature)`` for ONNX Runtime, and the reference
tolerance the export recorded (``signature.parity["reference_tolerance"]``) for the reference
evaluator. Each tensor's error is judged relative to its magnitude above 1
(``|got - want| / max(1, max |want|)``): a trained LSTM's cell state reaches ~30 after 50 random
tokens, where float32 rounding alone puts ONNX Runtime 1.1e-5 to 1.5e-5 from PyTorch (8 float32
spacings); an absolute 1e-5 would fail a correct graph there (the shipped char LM, 2x192). For
values within [-1, 1] this is the absolute tolerance. ``max_abs_error`` stays the raw number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from torch import nn

from edgernn.checks import Check, VerifyReport, check_contract, check_graph_contract, tolerance_for
from edgernn.core.model import Model
from edgernn.errors import DataError, UsageError
from edgernn.signature import Scaler, Signature
from edgernn.train import charlm, classify, seq2seq
from edgernn.train.checkpoint import FORECAST, Checkpoint, checkpoint_kind, load_checkpoint
from edgernn.train.parity import (
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

DEFAULT_TOLERANCE = 1e-5
STATE_SCALE = 0.5  # std of the random initial states, as in the export's parity check
KIND_CHECK = "checkpoint kind"  # the check that fails when the checkpoint is of another kind
KIND_OF_TASK = {
    "forecast": FORECAST,
    "generate": charlm.KIND,
    "classify": classify.KIND,
    "seq2seq": seq2seq.KIND,
}
TASK_OF_KIND = {kind: task for task, kind in KIND_OF_TASK.items()}
LOADERS: dict[str, Callable[[Path], tuple[nn.Module, dict]]] = {
    charlm.KIND: charlm.load_charlm,
    classify.KIND: classify.load_classifier,
    seq2seq.KIND: seq2seq.load_seq2seq,
}
CaseMaker = Callable[
    [int, np.random.Generator], tuple[np.ndarray, list[np.ndarray]]
]  # (batch, rng) -> x, states


@dataclass(frozen=True)
class Loaded:
    """A char LM, classifier or seq2seq checkpoint, loaded: its module and training-time signature fields."""

    kind: str  # charlm | classify | seq2seq (``edgernn.train.checkpoint.save_module``'s kind)
    net: nn.Module  # in eval mode
    fields: dict  # the signature fields saved with it


@dataclass(frozen=True)
class Graph:
    """One exported graph under test and the PyTorch module it must reproduce."""

    model: Model  # the loaded graph (ONNX Runtime, on the model's provider)
    net: nn.Module  # ``forward(x, *states) -> (y, *states)``
    role: str = ""  # "encoder" / "decoder" for a seq2seq model's two graphs; prefixes check names

    def name(self, check: str) -> str:
        return f"{self.role}: {check}" if self.role else check


# ---- entry point ---------------------------------------------------------------------------
def verify_checkpoint(
    model: Model,
    checkpoint: str | Path | Checkpoint | Loaded,
    *,
    steps: int = 50,
    batches: Sequence[int] = (1, 4),
    tolerance: float | None = None,
    seed: int = 0,
    contract: bool = True,
) -> VerifyReport:
    """Every check of ``model`` against ``checkpoint`` (a path, or a loaded checkpoint of any kind);
    ``tolerance`` defaults to the export's. A seq2seq ``model`` is its decoder file (the encoder is
    found next to it). Raises ``DataError`` for a missing or unreadable checkpoint file."""
    where = str(checkpoint) if isinstance(checkpoint, (str, Path)) else None
    report = VerifyReport(str(model.path), checkpoint=where)
    expected, actual = expected_kind(model.signature), source_kind(checkpoint)
    if actual is not None and actual != expected:
        report.checks.append(kind_check(model, where, expected, actual))
        return report
    source = load_source(checkpoint, expected)
    if isinstance(source, Checkpoint):
        report.checks += forecast_checks(
            model,
            source,
            steps=steps,
            batches=batches,
            tolerance=tolerance,
            seed=seed,
            contract=contract,
        )
    else:
        report.checks += module_checks(
            model,
            source,
            steps=steps,
            batches=batches,
            tolerance=tolerance,
            seed=seed,
            contract=contract,
        )
    return report


# ---- which checkpoint ----------------------------------------------------------------------
def expected_kind(sig: Signature) -> str:
    """The checkpoint kind a model of this task is exported from."""
    try:
        return KIND_OF_TASK[sig.task]
    except KeyError:
        raise UsageError(
            f"verify --checkpoint knows the tasks {', '.join(KIND_OF_TASK)}; this model's task is "
            f"{sig.task!r}: run verify without --checkpoint for its state contract"
        ) from None


def source_kind(checkpoint: str | Path | Checkpoint | Loaded) -> str | None:
    """The kind a checkpoint declares; None for a file that is not a readable edgernn checkpoint
    (its loader then says why, with its own message and exit code)."""
    if isinstance(checkpoint, Checkpoint):
        return FORECAST
    if isinstance(checkpoint, Loaded):
        return checkpoint.kind
    try:
        return checkpoint_kind(checkpoint)
    except DataError:  # missing, unreadable, not an edgernn checkpoint: the loader reports it
        return None


def load_source(checkpoint: str | Path | Checkpoint | Loaded, kind: str) -> Checkpoint | Loaded:
    """The checkpoint loaded by its kind's own loader (``edgernn.train.checkpoint``)."""
    if isinstance(checkpoint, (Checkpoint, Loaded)):
        return checkpoint
    if kind == FORECAST:
        return load_checkpoint(checkpoint)
    return Loaded(kind, *LOADERS[kind](Path(checkpoint)))


def kind_check(model: Model, where: str | None, expected: str, actual: str) -> Check:
    """A checkpoint of another kind cannot be compared at all: say which kinds, and what to pass."""
    name = Path(where).name if where else "the checkpoint"
    detail = (
        f"{name} is a {actual} checkpoint, but {model.path.name} is a {model.signature.task!r} model: pass the "
        f"{expected} checkpoint it was exported from (`edgernn train {expected} --out DIR` writes DIR/checkpoint.pt "
        f"next to DIR/model.onnx)"
    )
    return Check(KIND_CHECK, False, None, detail)


# ---- forecasters ---------------------------------------------------------------------------
def forecast_checks(
    model: Model,
    ckpt: Checkpoint,
    *,
    steps: int,
    batches: Sequence[int],
    tolerance: float | None,
    seed: int,
    contract: bool,
) -> list[Check]:
    """Contract, signature, then float32 three-way parity, or the RMS check of a reduced graph."""
    tol = tolerance if tolerance is not None else tolerance_for(model.signature)
    checks = check_contract(model, steps=steps, seed=seed, tolerance=tol) if contract else []
    match = check_signature(model.signature, ckpt)
    checks.append(match)
    if match.passed and model.signature.parity.get("quantization"):
        checks.append(reduced_check(model, ckpt, tol, seed))
    elif match.passed:
        checks += parity_checks(
            model, ckpt, steps=steps, batches=batches, tolerance=tolerance, seed=seed
        )
    return checks


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
        "input scaler": (_scaler(sig.input_scaler), _scaler(ckpt.input_scaler)),
        "target scaler": (_scaler(sig.target_scaler), _scaler(ckpt.target_scaler)),
    }
    return _signature_check(pairs, "arch, layers, features, targets and scalers agree")


def parity_checks(
    model: Model,
    ckpt: Checkpoint,
    *,
    steps: int,
    batches: Sequence[int],
    tolerance: float | None,
    seed: int,
) -> list[Check]:
    """Three-way parity of a forecaster, stepping ``steps`` steps with the state fed back, per batch size."""
    graph = Graph(model, ckpt.model.eval())
    return graph_parity(
        graph,
        random_cases(graph.net, steps),
        batches=batches,
        tolerance=tolerance,
        seed=seed,
        how=random_how(graph.net, steps),
    )


# ---- char LM, classifiers, seq2seq ---------------------------------------------------------
def module_checks(
    model: Model,
    source: Loaded,
    *,
    steps: int,
    batches: Sequence[int],
    tolerance: float | None,
    seed: int,
    contract: bool,
) -> list[Check]:
    """Contract of every graph, signature, then three-way parity of every graph."""
    graphs = graphs_of(model, source)
    checks: list[Check] = []
    if contract:
        for g in graphs:
            tol = tolerance if tolerance is not None else tolerance_for(g.model.signature)
            checks += [
                replace(c, name=g.name(c.name))
                for c in check_graph_contract(g.model, steps=steps, seed=seed, tolerance=tol)
            ]
    match = check_fields(graphs, source)
    checks.append(match)
    if not match.passed:
        return checks
    encoder = next((g.net for g in graphs if g.role == "encoder"), None)
    for g in graphs:
        cases, how = random_cases(g.net, steps), random_how(g.net, steps)
        if g.role == "decoder":  # decoding starts from the encoder's final state, not a random one
            cases, how = encoded_cases(encoder, g.net, steps), encoded_how(g.net, steps)
        checks += graph_parity(g, cases, batches=batches, tolerance=tolerance, seed=seed, how=how)
    return checks


def graphs_of(model: Model, source: Loaded) -> list[Graph]:
    """The graphs a model consists of, each with its PyTorch module; a seq2seq model is the
    decoder file plus the encoder graph its signature names (encoder first)."""
    if source.kind != seq2seq.KIND:
        return [Graph(model, source.net)]
    from edgernn.tasks.seq2seq import (
        Seq2Seq,
    )  # finds and checks the encoder graph next to the decoder

    encoder, decoder = source.net.graphs()
    return [Graph(Seq2Seq(model).encoder, encoder, "encoder"), Graph(model, decoder, "decoder")]


def check_fields(graphs: Sequence[Graph], source: Loaded) -> Check:
    """Every graph's signature describes the checkpoint: task, arch, layers, inputs (token ids and
    vocabulary size, or features and their scaler), tokenizer, outputs, labels."""
    pairs: dict[str, tuple] = {}
    for g in graphs:
        have, want = graph_facts(g.model.signature), checkpoint_facts(source, g.role)
        prefix = f"{g.role} " if g.role else ""
        pairs.update({prefix + k: (have.get(k), want.get(k)) for k in {**have, **want}})
    facts = ", ".join(graph_facts(graphs[-1].model.signature))
    both = f" for the {' and '.join(g.role for g in graphs)} graphs" if len(graphs) > 1 else ""
    return _signature_check(pairs, f"{facts} agree{both}")


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
        facts["input scaler"] = _scaler(sig.input_scaler)
    if sig.task == "classify":
        facts["labels"] = tuple(sig.labels)
    return facts


def checkpoint_facts(source: Loaded, role: str = "") -> dict:
    """The same facts from a checkpoint: its module's config and its saved signature fields."""
    cfg, fields = source.net.config, source.fields
    layers = (
        cfg.hidden if isinstance(cfg.hidden, tuple) else (cfg.hidden,)
    )  # seq2seq: one LSTM of ``hidden``
    facts = {
        "task": TASK_OF_KIND[source.kind],
        "arch": getattr(cfg, "arch", "lstm"),
        "layers": tuple(layers),
        "outputs": _outputs(source, role),
    }
    if getattr(cfg, "vocab_size", 0):
        tok = fields.get("tokenizer") or {}
        facts["input"] = ("token ids", int(cfg.vocab_size))
        facts["tokenizer"] = Vocab(tok.get("kind"), tuple(tok.get("vocab", ())), tok.get("unk"))
    else:
        facts["input"] = ("features", int(cfg.n_features))
        facts["features"] = tuple(fields.get("features", ()))
        facts["input scaler"] = (
            _scaler(Scaler(**fields["input_scaler"])) if "input_scaler" in fields else None
        )
    if source.kind == classify.KIND:
        facts["labels"] = tuple(fields.get("labels", ()))
    return facts


def _outputs(source: Loaded, role: str) -> int:
    """Output width: classes of a classifier, the hidden size of a seq2seq encoder, else the vocabulary."""
    cfg = source.net.config
    if source.kind == classify.KIND:
        return int(cfg.n_classes)
    return int(cfg.hidden if role == "encoder" else cfg.vocab_size)


@dataclass(frozen=True)
class Vocab:
    """A tokenizer as a signature fact: equal only when every token is; shown by kind and size."""

    kind: str | None
    tokens: tuple[str, ...]
    unk: str | None

    def __repr__(self) -> str:
        return f"{self.kind} tokenizer of {len(self.tokens)} tokens"


# ---- three-way parity of one graph ---------------------------------------------------------
def random_cases(net: nn.Module, steps: int) -> CaseMaker:
    """Random inputs (features N(0, 1) in model units, or token ids in [0, vocab)) and random initial states."""
    make = input_maker(net)
    return lambda batch, rng: random_case(net.state_shapes(), make, batch, steps, rng, STATE_SCALE)


def encoded_cases(encoder: nn.Module, decoder: nn.Module, steps: int) -> CaseMaker:
    """A seq2seq decoder's cases: teacher-forced random target tokens, starting from PyTorch's
    encoder final state on a random source line of ``steps`` tokens (how decoding really starts)."""
    source, target, encode = input_maker(encoder), input_maker(decoder), torch_runner(encoder)

    def make(batch: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
        zeros = [
            np.zeros(tuple(batch if a == "batch" else int(a) for a in s), np.float32)
            for s in encoder.state_shapes()
        ]
        _, states = encode(source(batch, steps, rng), zeros)
        return target(batch, steps, rng), [np.ascontiguousarray(s) for s in states]

    return make


def random_how(net: nn.Module, steps: int) -> str:
    if not is_causal(
        net
    ):  # a window model (bidirectional) has no state: it is checked on whole windows
        return f"whole windows of {steps} steps"
    return f"{steps} steps one at a time, state fed back, random initial state{_ids(net)}"


def encoded_how(net: nn.Module, steps: int) -> str:
    return (
        f"{steps} steps one at a time, state fed back, from PyTorch's encoder state after {steps} random source "
        f"tokens, teacher-forced random tokens{_ids(net)}"
    )


def _ids(net: nn.Module) -> str:
    vocab = getattr(net.config, "vocab_size", 0)
    return f", token ids in [0, {vocab})" if vocab else ""


def graph_parity(
    graph: Graph,
    cases: CaseMaker,
    *,
    batches: Sequence[int],
    tolerance: float | None,
    seed: int,
    how: str,
) -> list[Check]:
    """torch vs onnxruntime, torch vs reference and onnxruntime vs reference, per batch size."""
    model, net = graph.model, graph.net.eval()
    sig = model.signature
    tol = tolerance if tolerance is not None else tolerance_for(sig)
    ref_tol = (
        tolerance
        if tolerance is not None
        else max(tol, float(sig.parity.get("reference_tolerance") or tol))
    )
    names = GraphNames(
        sig.input_name,
        sig.output_name,
        tuple(s.input for s in sig.states),
        tuple(s.output for s in sig.states),
    )
    reference, note = _reference(model.path, names)
    torch_run, rng = torch_runner(net), np.random.default_rng(seed)
    run = run_stepwise if is_causal(net) else (lambda runner, x, states: runner(x, states))
    checks: list[Check] = []
    for batch in batches:
        x, states = cases(batch, rng)
        want = torch_run(x, states)  # full sequence, (B, T, O) and final states
        ort = run(model.run, x, states)
        checks.append(
            _compare(
                graph.name(f"torch vs onnxruntime, batch {batch}"),
                ort,
                want,
                tol,
                f"{how}; ORT on {model.provider}",
            )
        )
        if reference is None:
            continue
        try:
            ref = run(reference, x, states)
        except Exception as e:  # an op it cannot run at these shapes, ...
            reference, note = None, short_reason(e)
            continue
        checks.append(
            _compare(graph.name(f"torch vs reference, batch {batch}"), ref, want, ref_tol, how)
        )
        checks.append(
            _compare(graph.name(f"onnxruntime vs reference, batch {batch}"), ort, ref, ref_tol, how)
        )
    if reference is None:
        checks.append(
            Check(
                graph.name("reference evaluator"),
                True,
                None,
                f"not run (not a failure of the model): {note}",
            )
        )
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
    largest |want| of the tensor with the largest absolute error). Rounding grows with the values,
    so an LSTM cell state of ~30 is held to its float32 precision rather than to an absolute 1e-5.
    (inf, nan) when shapes differ."""
    if not math.isfinite(max_abs_error(got, want)):
        return math.inf, math.nan
    rows = [
        (float(np.max(np.abs(p - q), initial=0.0)), max(1.0, float(np.max(np.abs(q), initial=0.0))))
        for p, q in [(got[0], want[0]), *zip(got[1], want[1])]
    ]
    errors = np.array([error for error, _ in rows])
    sizes = np.array([size for _, size in rows])
    return float(np.max(errors / sizes)), float(
        sizes[int(np.argmax(errors))]
    )  # np.max/argmax: nan wins


def _compare(name: str, got: Outputs, want: Outputs, tolerance: float, how: str) -> Check:
    error = max_abs_error(got, want)
    scaled, scale = scaled_error(got, want)
    if not scaled <= tolerance:
        relative = f" on values up to {scale:.0f} ({scaled:.1e} relative)" if scale > 1 else ""
        return Check(name, False, error, f"{how}: off by {error:.1e}{relative} (> {tolerance:.0e})")
    if error > tolerance:  # within tolerance only relative to the values' size: say so
        how = f"{how}; {error:.1e} on values up to {scale:.0f}: {scaled:.1e} relative (<= {tolerance:.0e})"
    return Check(name, True, error, how)


# ---- helpers -------------------------------------------------------------------------------
def _scaler(s: Scaler) -> tuple:
    return (s.kind, tuple(map(float, s.offset)), tuple(map(float, s.scale)))


def _signature_check(pairs: dict[str, tuple], agreed: str) -> Check:
    """One check over (graph value, checkpoint value) pairs, naming every difference."""
    wrong = [_difference(k, a, b) for k, (a, b) in pairs.items() if a != b]
    if wrong:
        return Check("signature matches checkpoint", False, None, "; ".join(wrong))
    return Check("signature matches checkpoint", True, None, agreed)


def _difference(key: str, graph: object, ckpt: object) -> str:
    text = f"{key} {graph!r} vs checkpoint {ckpt!r}"
    return f"{text} (other tokens)" if repr(graph) == repr(ckpt) else text
