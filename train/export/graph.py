"""The verified exporter: a module to a streaming ONNX graph, checked before it is written.

The graph takes ``x`` (batch, time, features) plus one input ``state_in.N`` per recurrent
state and returns ``y`` (batch, time, targets) plus ``state_out.N``; batch and time are
dynamic, so one graph serves a single step, a chunk, and many stacked streams. The
signature travels in the graph's metadata under ``edgernn.signature``. Every task exports
through ``export_module``; the task only says what its signature is.

Exporters are tried in order (``ExportConfig.exporters``). Each candidate graph must declare
dynamic batch/time axes and match PyTorch's full-sequence forward within the tolerance at
every verification shape, run step by step with the state fed back and in one chunk, on
ONNX Runtime and on ONNX's reference evaluator. The first candidate that passes is written
(to a temporary file, loaded back by the runtime, then moved into place); when none passes,
``ExportError`` carries the per-shape report and nothing is written.

A window model (``model.causal`` False: a bidirectional forecaster) has no states: its graph
takes ``x`` (batch, time, features), a whole window, and returns ``y`` (batch, 1, targets), the
forecast after the window; its signature says ``causal=False``, ``window=W``, ``states=()``, and
its parity compares whole windows only (``check_parity(stepwise=False)``).

``--quantize int8`` / ``--precision fp16`` are a post-step on the verified float32 graph
(``edgernn.train.export.reduced``): the reduced graph is measured against the float32 one over
a long stateful run and written instead of it, or refused (nothing written) over tolerance.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

import edgernn
from edgernn.errors import ExportError, UsageError
from edgernn.signature import METADATA_KEY, Signature, StateSpec
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.parity import (
    BATCH,
    TIME,
    GraphNames,
    ParityResult,
    check_parity,
    declared_shape_problems,
    input_maker,
    is_causal,
    max_abs_error,
    random_case,
    run_stepwise,
    short_reason,
    torch_runner,
)
from edgernn.train.export.quantize import ReduceConfig
from edgernn.train.export.reduced import Reduced, check_loaded, reduce_graph, with_record
from edgernn.train.export.signature import state_specs

# (graph names, states, parity record) -> the signature written into the graph
Describe = Callable[[GraphNames, tuple[StateSpec, ...], dict], Signature]
_NOISY_LOGGERS = (
    "torch.onnx",
    "torch.export",
    "torch._dynamo",
    "torch._export",
    "torch.fx",
    "torch._subclasses",
    "torch.utils._sympy",
    "onnxscript",
    "onnx_ir",
)


@dataclass
class Candidate:
    """One exporter's graph and how it fared."""

    exporter: str  # "torchscript" or "dynamo"
    graph: onnx.ModelProto | None = None  # its graph (None when exporting raised)
    parity: ParityResult | None = None  # its parity run (None when it could not run)
    problem: str = ""  # why it was rejected ("" when it passed)

    @property
    def passed(self) -> bool:
        return not self.problem

    def to_dict(self) -> dict:
        cases = [asdict(c) for c in self.parity.cases] if self.parity else []
        for c in cases:  # inf (could not run) is not JSON
            c.update({k: None for k in ("step_error", "chunk_error") if not np.isfinite(c[k])})
        return {
            "exporter": self.exporter,
            "passed": self.passed,
            "problem": self.problem,
            "cases": cases,
        }


# ---- the exporter ------------------------------------------------------------------------
def export_module(
    model: torch.nn.Module,
    out: Path,
    config: ExportConfig,
    describe: Describe,
) -> Signature:
    """Export ``model`` (``forward(x, *states)``, ``state_shapes()``) with each exporter until
    one verifies, then write it with the signature ``describe(names, states, parity record)``.
    Token models (``model.config.vocab_size``) are verified on random token ids
    (``parity.input_maker``).

    Raises ``ExportError`` (with the per-shape report) when no exporter passes, or when the
    ``--quantize`` / fp16 graph changes the forecast by more than ``quant_tolerance`` and
    ``force`` is off; nothing is written then, and a file already at ``out`` is left as it
    was."""
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a directory; pass a file path such as model.onnx")
    names = config.names(len(model.state_shapes()))
    tried: list[Candidate] = []
    for exporter in config.exporters:
        tried.append(try_exporter(exporter, model, names, config))
        if tried[-1].passed:
            break
    else:
        raise _failure(tried, out, config)
    states = state_specs(names, model.state_shapes())
    signature = describe(names, states, parity_record(tried, config))
    reduction = config.reduction()
    if reduction is not None:
        return _write_reduced(tried[-1].graph, signature, out, reduction)
    _write_verified(
        tried[-1].graph, signature, out, lambda path, sig: _check_runtime(path, sig, model, config)
    )
    return signature


# ---- exporting -----------------------------------------------------------------------------
def export_graph(
    exporter: str, model: torch.nn.Module, names: GraphNames, config: ExportConfig
) -> onnx.ModelProto:
    """Run one exporter quietly on a (batch >= 2, length >= 2) example; the graph, unverified."""
    batch, length = config.trace_shape
    x, states = random_case(
        model.state_shapes(),
        input_maker(model),
        batch,
        length,
        np.random.default_rng(config.seed),
        config.state_scale,
    )
    example = (torch.from_numpy(x), *(torch.from_numpy(s) for s in states))
    with _quiet():
        if exporter == "torchscript":
            return _export_torchscript(model, example, names, config.opset)
        return _export_dynamo(model, example, names, config.opset)


def _export_torchscript(
    model: torch.nn.Module, example: tuple, names: GraphNames, opset: int
) -> onnx.ModelProto:
    # a window model's y: (B, 1, O)
    out_axes = {0: BATCH, 1: TIME} if is_causal(model) else {0: BATCH}
    axes = {names.input: {0: BATCH, 1: TIME}, names.output: out_axes}
    axes.update({n: {1: BATCH} for n in (*names.state_inputs, *names.state_outputs)})
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        example,
        buf,
        dynamo=False,
        opset_version=opset,
        dynamic_axes=axes,
        input_names=[names.input, *names.state_inputs],
        output_names=names.fetches,
    )
    return onnx.load_from_string(buf.getvalue())


def _export_dynamo(
    model: torch.nn.Module, example: tuple, names: GraphNames, opset: int
) -> onnx.ModelProto:
    from torch.export import Dim

    batch, time = Dim(BATCH), Dim(TIME)
    # forward(x, *states)
    shapes = (
        {0: batch, 1: time},
        tuple({1: batch} for _ in names.state_inputs),
    )
    if not names.state_inputs:  # a window model: forward(x)
        shapes = ({0: batch, 1: time},)
    program = torch.onnx.export(
        model,
        example,
        dynamo=True,
        opset_version=opset,
        dynamic_shapes=shapes,
        input_names=[names.input, *names.state_inputs],
        output_names=names.fetches,
        verbose=False,
    )
    return program.model_proto


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' deprecation warnings, log lines and prints for a clean report."""
    loggers = [logging.getLogger(n) for n in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    sink = io.StringIO()
    try:
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# ---- verifying -----------------------------------------------------------------------------
def try_exporter(
    exporter: str, model: torch.nn.Module, names: GraphNames, config: ExportConfig
) -> Candidate:
    """Export with one exporter and verify the graph: declared axes and numeric parity."""
    try:
        graph = export_graph(exporter, model, names, config)
    except Exception as e:  # exporters raise anything
        return Candidate(exporter, problem=f"export raised {short_reason(e)}")
    fixed = declared_shape_problems(graph, names, model)
    try:
        parity = check_parity(
            model,
            graph,
            names,
            shapes=config.verify_shapes,
            tolerance=config.tolerance,
            state_scale=config.state_scale,
            seed=config.seed,
            reference_tolerance=config.reference_tolerance,
            stepwise=is_causal(model),
        )
    except Exception as e:  # ORT cannot even load the graph
        return Candidate(
            exporter, graph, problem=f"onnxruntime cannot load the graph ({short_reason(e)})"
        )
    problems = [f"declares {p}" for p in fixed]
    broken = [c for c in parity.cases if c.failure]
    if broken:
        problems.insert(
            0,
            f"{broken[0].backend} cannot run it at batch {broken[0].batch}, length "
            f"{broken[0].length}",
        )
    elif not parity.passed:
        worst = max(c.error for c in parity.cases)
        problems.insert(0, f"max abs error {worst:.1e} > tolerance {config.tolerance:.0e}")
    return Candidate(exporter, graph, parity, "; ".join(problems))


def _failure(tried: list[Candidate], out: Path, config: ExportConfig) -> ExportError:
    lines = [
        "export failed: no exporter's graph passed verification against PyTorch (tolerance "
        f"{config.tolerance:g}; "
        f"tried {', '.join(c.exporter for c in tried)}); nothing was written to {str(out)!r}"
    ]
    for c in tried:
        lines.append(f"  {c.exporter}: {c.problem}")
        lines += [f"    {line}" for line in (c.parity.report_lines() if c.parity else [])]
    error = ExportError("\n".join(lines))
    error.candidates = [c.to_dict() for c in tried]  # for --json
    return error


# ---- the record and the file --------------------------------------------------------------
def parity_record(tried: list[Candidate], config: ExportConfig) -> dict:
    """``signature.parity``: what was measured on the graph that passed."""
    winner = tried[-1]
    parity = winner.parity
    record = {
        "max_abs_error": parity.max_error("onnxruntime"),
        "tolerance": config.tolerance,
        "reference_tolerance": config.reference_tolerance or config.tolerance,
        "shapes": [list(s) for s in config.verify_shapes],
        "exporter": winner.exporter,
        "opset": next(
            (o.version for o in winner.graph.opset_import if o.domain in ("", "ai.onnx")),
            config.opset,
        ),
        "reference_max_abs_error": parity.max_error("reference"),
        "method": "onnxruntime and onnx.reference, step by step (state fed back) and one chunk, "
        "random and zero initial states, vs PyTorch full sequence",
    }
    if not all(c.stepped for c in parity.cases):
        record["method"] = (
            "onnxruntime and onnx.reference, one call per whole window (a window model has no "
            "state "
            "to step), vs PyTorch's forward on the same window"
        )
    if parity.reference_note:
        record["reference_note"] = parity.reference_note
    if len(tried) > 1:
        record["rejected"] = {c.exporter: c.problem for c in tried[:-1]}
    return record


def _write_verified(
    graph: onnx.ModelProto,
    signature: Signature,
    out: Path,
    check: Callable[[Path, Signature], None],
) -> None:
    """Embed the signature, write a temp file, ``check`` it with the runtime, then move it to
    ``out``."""
    graph = onnx.ModelProto.FromString(graph.SerializeToString())
    props = [p for p in graph.metadata_props if p.key != METADATA_KEY]
    del graph.metadata_props[:]
    graph.metadata_props.extend(props)
    graph.metadata_props.add(key=METADATA_KEY, value=signature.to_json())
    out.parent.mkdir(parents=True, exist_ok=True)
    # same directory: os.replace is atomic
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        onnx.save(graph, tmp)
        check(tmp, signature)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_reduced(
    graph: onnx.ModelProto, signature: Signature, out: Path, reduction: ReduceConfig
) -> Signature:
    """The verified float32 graph reduced (int8 / fp16) and measured, then written, or refused."""
    with _quiet():
        reduced = reduce_graph(graph, signature, reduction)
    refusal = reduced.refusal(out)
    if refusal is not None:
        raise refusal
    signature = with_record(signature, reduced.record)
    _write_verified(
        reduced.graph, signature, out, lambda path, sig: _check_reduced(path, sig, reduced)
    )
    return signature


def _load_back(path: Path, signature: Signature) -> edgernn.Model:
    """The runtime loads the file (CPU) and reads back exactly the signature written."""
    loaded = edgernn.load(path, provider="cpu")
    if loaded.signature != signature:
        raise ExportError(
            "export failed: the runtime read back a different signature than was written; nothing "
            "was written"
        )
    return loaded


def _check_reduced(path: Path, signature: Signature, reduced: Reduced) -> None:
    """The runtime loads the reduced file and reproduces what was measured (see
    ``check_loaded``)."""
    check_loaded(_load_back(path, signature).run, reduced, signature)


def _check_runtime(
    path: Path, signature: Signature, model: torch.nn.Module, config: ExportConfig
) -> None:
    """The runtime loads the file, reads the same signature, and gets PyTorch's numbers."""
    loaded = _load_back(path, signature)
    x, states = random_case(
        model.state_shapes(),
        input_maker(model),
        4,
        7,
        np.random.default_rng(config.seed + 1),
        config.state_scale,
    )
    want = torch_runner(model)(x, states)
    error = max_abs_error(loaded.run(x, states), want)
    if is_causal(model):
        error = max(error, max_abs_error(run_stepwise(loaded.run, x, states), want))
    if not error <= config.tolerance:
        raise ExportError(
            f"export failed: edgernn.load() of the written graph is off by {error:.1e} "
            f"(> {config.tolerance:.0e}) at batch 4, length 7; nothing was written"
        )
