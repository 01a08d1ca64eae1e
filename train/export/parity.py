"""Parity between a PyTorch forecaster and its exported graph, on any backend.

A backend is a ``Runner``: ``(x (B, T, F) or token ids (B, T), states) -> (y (B, T, O), new
states)``, the same contract as ``edgernn.Model.run``. PyTorch runs each case over the full
sequence; every graph backend runs it twice: one step at a time with the state fed back, and in
one chunk. Both must match PyTorch's outputs at every step and its final states.

A window model (not causal: bidirectional, no states) cannot be stepped; with ``stepwise=False``
each case is one call over the whole window, compared with PyTorch's forward on that window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch

from edgernn.core.providers import SessionConfig, create_session
from edgernn.train.cells import native_kernels

BATCH, TIME = "batch", "time"  # the graph's symbolic axes (the runtime stacks streams on "batch")
Outputs = tuple[np.ndarray, list[np.ndarray]]  # (y (B, T, O), states each (1, B, H))
Runner = Callable[[np.ndarray, Sequence[np.ndarray]], Outputs]


@dataclass(frozen=True)
class GraphNames:
    """The streaming graph's tensor names."""

    input: str  # x (B, T, F)
    output: str  # y (B, T, O)
    state_inputs: tuple[str, ...]  # state_in.N, each (1, B, H)
    state_outputs: tuple[str, ...]  # state_out.N, each (1, B, H)

    def feeds(self, x: np.ndarray, states: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {self.input: x, **dict(zip(self.state_inputs, states))}

    @property
    def fetches(self) -> list[str]:
        return [self.output, *self.state_outputs]


# ---- backends ------------------------------------------------------------------------------
def torch_runner(model: torch.nn.Module) -> Runner:
    """PyTorch over the full sequence in one forward call, on its native CPU kernels.

    oneDNN is off: its LSTM path gives the same numbers but measured ~350 ms for 50 steps
    of a 2->8 LSTM on the development machines (native kernel: 0.5 ms).
    """

    def run(x: np.ndarray, states: Sequence[np.ndarray]) -> Outputs:
        with native_kernels(), torch.no_grad():
            y, *new = model(torch.from_numpy(x), *(torch.from_numpy(s) for s in states))
        return y.numpy(), [s.numpy() for s in new]

    return run


def ort_runner(graph: bytes, names: GraphNames, provider: str = "cpu") -> Runner:
    """ONNX Runtime, with the runtime's own session options."""
    session, _, _ = create_session(graph, SessionConfig(provider))

    def run(x: np.ndarray, states: Sequence[np.ndarray]) -> Outputs:
        y, *new = session.run(names.fetches, names.feeds(x, states))
        return y, new

    return run


def reference_runner(graph: onnx.ModelProto, names: GraphNames) -> Runner:
    """``onnx.reference.ReferenceEvaluator``: the ONNX spec in numpy, independent of ORT."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(graph)

    def run(x: np.ndarray, states: Sequence[np.ndarray]) -> Outputs:
        y, *new = evaluator.run(names.fetches, names.feeds(x, states))
        return np.asarray(y, dtype=np.float32), [np.asarray(s, dtype=np.float32) for s in new]

    return run


def run_stepwise(runner: Runner, x: np.ndarray, states: Sequence[np.ndarray]) -> Outputs:
    """One call per time step, each call's states fed into the next."""
    ys = []
    for t in range(x.shape[1]):
        y, states = runner(np.ascontiguousarray(x[:, t : t + 1]), states)  # y (B, 1, O)
        ys.append(y)
    return np.concatenate(ys, axis=1), list(states)  # (B, T, O)


def max_abs_error(a: Outputs, b: Outputs) -> float:
    """Largest |a - b| over y and every state; inf when shapes differ."""
    pairs = [(a[0], b[0]), *zip(a[1], b[1])]
    if len(a[1]) != len(b[1]) or any(p.shape != q.shape for p, q in pairs):
        return math.inf
    return max(float(np.max(np.abs(p - q), initial=0.0)) for p, q in pairs)


InputMaker = Callable[[int, int, np.random.Generator], np.ndarray]  # (batch, length, rng) -> x


def input_maker(model: torch.nn.Module) -> InputMaker:
    """Random graph inputs for ``model``: token ids (B, T) int64 in [0, V) for a token model
    (``model.config.vocab_size``), else features (B, T, F) ~ N(0, 1) float32 in model units."""
    vocab = getattr(model.config, "vocab_size", None)
    if vocab:
        return lambda batch, length, rng: rng.integers(
            0, vocab, size=(batch, length), dtype=np.int64
        )
    return features_maker(model.config.n_features)


def features_maker(n_features: int) -> InputMaker:
    return lambda batch, length, rng: rng.standard_normal((batch, length, n_features)).astype(
        np.float32
    )


def is_causal(model: torch.nn.Module) -> bool:
    """Steppable with explicit state (every model but a window model, e.g. a bidirectional one)."""
    return bool(getattr(model, "causal", True))


def io_shapes(model: torch.nn.Module) -> tuple[tuple, tuple]:
    """The graph's main input and output shapes, symbolic axes included (a window model's
    output is one step: the forecast after the window)."""
    vocab = getattr(model.config, "vocab_size", None)
    if (
        vocab
    ):  # token model: a language model has V outputs, a text classifier ``n_outputs`` (its classes)
        return (BATCH, TIME), (BATCH, TIME, getattr(model.config, "n_outputs", vocab))
    return (BATCH, TIME, model.config.n_features), (
        BATCH,
        TIME if is_causal(model) else 1,
        model.config.n_targets,
    )


def random_case(
    state_shapes: Sequence[tuple],
    inputs: int | InputMaker,
    batch: int,
    length: int,
    rng: np.random.Generator,
    state_scale: float,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """x from ``inputs`` (an ``InputMaker``, or F for (B, T, F) ~ N(0, 1) in model units);
    states (1, B, H) ~ N(0, state_scale^2) (zeros if 0)."""
    make = features_maker(inputs) if isinstance(inputs, int) else inputs
    x = make(batch, length, rng)
    shapes = [tuple(batch if a == "batch" else int(a) for a in s) for s in state_shapes]
    states = [(state_scale * rng.standard_normal(s)).astype(np.float32) for s in shapes]
    return x, states


# ---- a parity run over several shapes ------------------------------------------------------
@dataclass(frozen=True)
class CaseResult:
    """One backend on one (batch, length) case against PyTorch's full sequence."""

    backend: str  # "onnxruntime" | "reference"
    batch: int
    length: int
    states: str  # "random" | "zero": the initial states fed in
    step_error: (
        float  # max abs error stepping one step at a time, state fed back (nan: not stepped)
    )
    chunk_error: float  # max abs error of one call over the whole chunk
    failure: str = ""  # why the backend could not run the case ("" when it ran)
    stepped: bool = True  # False for a window model: only whole windows are compared

    @property
    def error(self) -> float:
        return max(self.step_error, self.chunk_error) if self.stepped else self.chunk_error

    def line(self, tolerance: float) -> str:
        where = f"(batch {self.batch}, length {self.length:>2})"
        head = f"{self.backend:<11} {where} {self.states:<6} states"
        if self.failure:
            return f"{head}  FAILED to run: {self.failure}"
        verdict = "ok" if self.error <= tolerance else f"FAIL (> {tolerance:.0e})"
        step = f"step {self.step_error:.1e}" if self.stepped else "step n/a (window model)"
        return f"{head}  {step}  chunk {self.chunk_error:.1e}  {verdict}"


@dataclass
class ParityResult:
    """Every case of one graph; passed when each ran within the tolerance on every backend."""

    tolerance: float  # max abs error allowed on ONNX Runtime (the runtime's engine)
    cases: list[CaseResult] = field(default_factory=list)
    reference_note: str = ""  # why the reference evaluator did not run ("" when it did)
    reference_tolerance: float | None = None  # the reference evaluator's (None: the same)

    def allowed(self, case: CaseResult) -> float:
        if case.backend == "reference" and self.reference_tolerance is not None:
            return self.reference_tolerance
        return self.tolerance

    def max_error(self, backend: str) -> float | None:
        errors = [c.error for c in self.cases if c.backend == backend]
        return max(errors) if errors else None

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.error <= self.allowed(c) for c in self.cases)

    def report_lines(self) -> list[str]:
        lines = [c.line(self.allowed(c)) for c in self.cases]
        return lines + (
            [f"reference   not run: {self.reference_note}"] if self.reference_note else []
        )


def check_parity(
    model: torch.nn.Module,
    graph: onnx.ModelProto,
    names: GraphNames,
    *,
    shapes: Sequence[tuple[int, int]],
    tolerance: float,
    state_scale: float,
    seed: int,
    reference_tolerance: float | None = None,
    stepwise: bool = True,
) -> ParityResult:
    """Every shape with random and with zero initial states, on ORT and the reference evaluator.
    ``stepwise=False`` (window models): whole windows only, no step-by-step run."""
    result = ParityResult(tolerance, reference_tolerance=reference_tolerance)
    backends: dict[str, Runner] = {"onnxruntime": ort_runner(graph.SerializeToString(), names)}
    try:
        backends["reference"] = reference_runner(graph, names)
    except Exception as e:  # an op the reference evaluator does not implement, ...
        result.reference_note = short_reason(e)
    reference, rng = torch_runner(model), np.random.default_rng(seed)
    state_shapes = model.state_shapes()
    make_input = input_maker(model)
    for batch, length in shapes:
        x, random_states = random_case(state_shapes, make_input, batch, length, rng, state_scale)
        for kind, states in (
            ("random", random_states),
            ("zero", [np.zeros_like(s) for s in random_states]),
        ):
            if (
                kind == "zero" and not states
            ):  # no states (a window model): the "random" case was the same run
                continue
            want = reference(x, states)
            for name, runner in list(backends.items()):
                case = compare_case(name, runner, x, states, want, kind, stepwise)
                if name == "reference" and case.failure:  # honest note, not a failed export
                    result.reference_note = f"{case.failure} (at batch {batch}, length {length})"
                    del backends[name]
                    result.cases = [c for c in result.cases if c.backend != name]
                    continue
                result.cases.append(case)
    return result


def compare_case(
    backend: str,
    runner: Runner,
    x: np.ndarray,
    states: list[np.ndarray],
    want: Outputs,
    kind: str,
    stepwise: bool = True,
) -> CaseResult:
    batch, length = x.shape[:2]
    try:
        step = max_abs_error(run_stepwise(runner, x, states), want) if stepwise else math.nan
        chunk = max_abs_error(runner(x, states), want)
    except Exception as e:  # ORT rejects the shape, an op fails, ...
        return CaseResult(
            backend, batch, length, kind, math.inf, math.inf, short_reason(e), stepwise
        )
    return CaseResult(backend, batch, length, kind, step, chunk, stepped=stepwise)


def short_reason(e: BaseException) -> str:
    """``Type: message`` of an exception (or of its cause) on one line, at most 200 chars."""
    root = e.__cause__ or e
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(root))  # the dynamo exporter colours its messages
    text = " ".join(ln.strip() for ln in text.splitlines() if ln.strip())
    return f"{type(root).__name__}: {text}"[:200]


# ---- declared shapes -----------------------------------------------------------------------
def declared_shape_problems(
    graph: onnx.ModelProto, names: GraphNames, model: torch.nn.Module
) -> list[str]:
    """Axes the graph declares fixed where the contract needs them dynamic (or of another size)."""
    shape_in, shape_out = io_shapes(model)
    want = {names.input: shape_in, names.output: shape_out}
    for i, o, shape in zip(names.state_inputs, names.state_outputs, model.state_shapes()):
        want[i] = want[o] = tuple(shape)
    declared = {
        v.name: v.type.tensor_type.shape.dim for v in (*graph.graph.input, *graph.graph.output)
    }
    problems = []
    for name, shape in want.items():
        dims = declared.get(name)
        if dims is None or len(dims) != len(shape):
            problems.append(
                f"{name} missing or of rank {len(dims) if dims is not None else 0}, not "
                f"{len(shape)}"
            )
            continue
        for axis, (dim, expected) in enumerate(zip(dims, shape)):
            if dim.HasField("dim_value") and (
                isinstance(expected, str) or dim.dim_value != expected
            ):
                problems.append(
                    f"{name} axis {axis} fixed to {dim.dim_value} (expected {expected!r})"
                )
    return problems
