"""The reduced (int8 / fp16) graph measured against the verified float32 one, and its verdict.

``reduce_graph`` reduces the float32 graph (``edgernn.train.export.quantize``) and runs both
side by side over a long stateful run on realistic inputs (``comparison_inputs``), one step
per call with the state fed back, as a live stream runs. The change of the forecast goes into
``signature.parity["quantization"]``; over ``tolerance`` the export is refused unless forced
(``Reduced.refusal``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgernn.errors import ExportError
from edgernn.feeds.synth import COLUMNS as SENSOR_COLUMNS
from edgernn.feeds.synth import sensor_signal
from edgernn.signature import TOLERANCES, Signature
from edgernn.train.export.parity import (
    GraphNames,
    Outputs,
    Runner,
    ort_runner,
    reference_runner,
    run_stepwise,
    short_reason,
)
from edgernn.train.export.quantize import (
    APPLIES_TO,
    INT8,
    PROVIDER,
    ReduceConfig,
    convert_fp16,
    count_reduced,
    coverage_note,
    prepare,
    quantize_int8,
)

SIDE_STEPS = 200  # length of the chunk-vs-steps and batch-coupling checks


@dataclass
class Reduced:
    """A reduced graph, its record for ``signature.parity["quantization"]``, and the verdict."""

    graph: onnx.ModelProto
    record: dict
    # the runtime's own numbers on the check inputs (None: not its provider)
    expected: Outputs | None
    check_x: np.ndarray  # (1, T, F) model units: inputs the written file is re-run on

    @property
    def within_tolerance(self) -> bool:
        rms = self.record["rms_change"]
        return rms is not None and rms <= self.record["tolerance"]

    def refusal(self, out: Path) -> ExportError | None:
        """The error to raise (nothing written) when the change is over tolerance and not forced."""
        if self.within_tolerance or self.record["forced"]:
            return None
        r, where = self.record, f"nothing was written to {str(out)!r}"
        if r["rms_change"] is None:
            text = (
                f"export refused: the {r['mode']} graph's accuracy could not be measured here "
                f"({r['not_measured']}); {where}; pass --force to write it unmeasured and check it "
                f"on {r['provider']}"
            )
        else:
            text = (
                f"export refused: {r['mode']} changes the forecast by RMS {r['rms_change']:.2%} of "
                "the target "
                f"scale (max {r['max_abs_change']:.2%}) over {r['steps']} stateful steps, above "
                "--quant-tolerance "
                f"{r['tolerance']:g} ({r['tolerance']:.2%}); {where}; raise --quant-tolerance or "
                "pass --force"
            )
        error = ExportError(text)
        error.quantization = r  # for --json
        return error


# ---- the whole post-step -------------------------------------------------------------------
def reduce_graph(graph: onnx.ModelProto, signature: Signature, config: ReduceConfig) -> Reduced:
    """Pre-process, reduce and measure ``graph`` (the verified float32 graph of ``signature``)."""
    if config.mode == INT8 and signature.arch != "lstm" and not config.force:
        raise ExportError(
            f"--quantize int8 applies to LSTM layers only: a {signature.arch} model would get only "
            "its "
            "dense head quantized (no smaller, no faster); nothing was written; export it in "
            "float32, "
            "use --precision fp16 for CUDA, or pass --force to quantize the head anyway"
        )
    reduced = _reduce(graph, config)
    x_user, source = comparison_inputs(signature, config.steps, config.seed)
    x = signature.input_scaler.transform(x_user)[None]  # (1, T, F) model units
    record = {
        "mode": config.mode,
        "applies_to": APPLIES_TO[config.mode],
        "provider": PROVIDER[config.mode],
        **count_reduced(reduced),
        "steps": config.steps,
        "inputs": source,
        "tolerance": config.tolerance,
        "units": "model units: a fraction of each target's scale (its training std for standard "
        "scaling); "
        "per_target in the user's units",
        "float32_bytes": graph.ByteSize(),
        "bytes": reduced.ByteSize(),
    }
    record["note"] = coverage_note(signature.arch, record)
    measured, expected = measure(graph, reduced, signature, x, config)
    record.update(measured)
    result = Reduced(reduced, record, expected, x[:, :SIDE_STEPS])
    record["forced"] = bool(config.force and not result.within_tolerance)
    return result


def _reduce(graph: onnx.ModelProto, config: ReduceConfig) -> onnx.ModelProto:
    """Pre-process and reduce; a failure of ORT's tools is an ExportError (nothing written)."""
    try:
        prepared = prepare(graph)
        return (
            quantize_int8(prepared, config.per_channel)
            if config.mode == INT8
            else convert_fp16(prepared)
        )
    except ExportError:
        raise
    except Exception as e:  # ORT's quantization tools raise anything
        raise ExportError(
            f"export failed: {config.mode} reduction of the verified graph raised "
            f"{short_reason(e)}; "
            "nothing was written; export without --quantize / --precision fp16"
        ) from e


def measure(
    graph: onnx.ModelProto,
    reduced: onnx.ModelProto,
    signature: Signature,
    x: np.ndarray,
    config: ReduceConfig,
) -> tuple[dict, Outputs | None]:
    """Float32 vs reduced over ``x`` step by step from zero state; and the runtime's expected
    numbers.

    The second value is the reduced graph's outputs over the first ``SIDE_STEPS`` steps when
    they were measured on the runtime's own provider (ORT CPU), else None.
    """
    names = graph_names(signature)
    backend, run, why = reduced_runner(reduced, names, config.mode)
    if run is None:
        return {
            "measured_with": None,
            "not_measured": why,
            "rms_change": None,
            "max_abs_change": None,
        }, None
    want = run_stepwise(ort_runner(graph.SerializeToString(), names), x, zero_states(signature, 1))
    got = run_stepwise(run, x, zero_states(signature, 1))
    found = {
        "measured_with": backend,
        **forecast_change(got[0], want[0], signature),
        **side_effects(run, x[:, :SIDE_STEPS], signature, config),
    }
    if not backend.startswith("onnxruntime cpu"):
        return found, None
    return found, run_stepwise(run, x[:, :SIDE_STEPS], zero_states(signature, 1))


def with_record(signature: Signature, record: dict) -> Signature:
    """``signature`` with ``parity["quantization"] = record``, exactly as the runtime reads it
    back."""
    parity = {**signature.parity, "quantization": record}
    return Signature.from_json(dataclasses.replace(signature, parity=parity).to_json())


# ---- measuring -----------------------------------------------------------------------------
def graph_names(signature: Signature) -> GraphNames:
    return GraphNames(
        signature.input_name,
        signature.output_name,
        tuple(s.input for s in signature.states),
        tuple(s.output for s in signature.states),
    )


def zero_states(signature: Signature, batch: int) -> list[np.ndarray]:
    return [s.zeros(batch) for s in signature.states]


def reduced_runner(
    graph: onnx.ModelProto, names: GraphNames, mode: str
) -> tuple[str, Runner | None, str]:
    """Where the reduced graph's accuracy is measured here: (backend, runner or None, why not).

    int8 runs on ONNX Runtime's CPU provider, its real target. fp16 is measured with the
    reference evaluator, which computes in float16 like the CUDA kernels; ORT's CPU provider
    would only cast the float16 weights back to float32 (a smaller, misleading change). When
    the reference evaluator cannot run it, ORT CPU is the fallback, labelled as such.
    """
    if mode == INT8:
        return "onnxruntime cpu", ort_runner(graph.SerializeToString(), names), ""
    try:
        runner = reference_runner(graph, names)
        runner(*_tiny_case(graph, names))
        return "onnx.reference (float16 arithmetic)", runner, ""
    except Exception as e:  # an op it does not implement, ...
        reason = short_reason(e)
    try:
        runner = ort_runner(graph.SerializeToString(), names)
        runner(*_tiny_case(graph, names))
        return "onnxruntime cpu (float32 arithmetic on float16 weights)", runner, ""
    except Exception as e:
        return (
            "",
            None,
            f"needs CUDA: reference evaluator: {reason}; onnxruntime cpu: {short_reason(e)}",
        )


def _tiny_case(graph: onnx.ModelProto, names: GraphNames) -> tuple[np.ndarray, list[np.ndarray]]:
    """A one-step, batch-1 input from the graph's declared shapes (symbolic axes -> 1)."""
    dims = {
        v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim] for v in graph.graph.input
    }
    zeros = [np.zeros(dims[n], dtype=np.float32) for n in (names.input, *names.state_inputs)]
    return zeros[0], zeros[1:]


def comparison_inputs(signature: Signature, steps: int, seed: int) -> tuple[np.ndarray, str]:
    """(steps, F) inputs in the user's units, and where they came from.

    Models trained on ``synth:sensor`` get a fresh draw of the same signal (seed + 1 past the
    training seed); others get a smooth signal at the input scaler's level and spread:
    offset + scale * (three sines of periods 24, 96 and 500 steps, unit std, + 10% noise).
    """
    data = signature.provenance.get("data")
    features = signature.features
    if (
        isinstance(data, dict)
        and data.get("kind") == "synth"
        and data.get("name") == "sensor"
        and set(features) <= set(SENSOR_COLUMNS)
    ):
        draw = int(data.get("seed", 0)) + 1 + seed
        signal = sensor_signal(steps, seed=draw)
        return np.stack(
            [signal[f] for f in features], axis=1
        ), f"synth:sensor?n={steps}&seed={draw}"
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (3, len(features)))
    wave = sum(
        a * np.sin(2 * np.pi * t / p + phases[i])
        for i, (a, p) in enumerate(((0.5, 24), (1.0, 96), (0.3, 500)))
    )
    wave = wave / wave.std(axis=0) + 0.1 * rng.standard_normal(wave.shape)
    offset, scale = (
        np.asarray(v, dtype=np.float64)
        for v in (signature.input_scaler.offset, signature.input_scaler.scale)
    )
    source = "sines (periods 24, 96, 500) + 10% noise at the input scaler's offset and scale"
    return (offset + scale * wave).astype(np.float32), source


def forecast_change(got: np.ndarray, want: np.ndarray, signature: Signature) -> dict:
    """Max abs and RMS change over time of each target: model units (worst target) and user
    units."""
    diff = (got - want).reshape(-1, got.shape[-1]).astype(np.float64)  # (T, targets) model units
    rms, top = np.sqrt(np.mean(diff**2, axis=0)), np.max(np.abs(diff), axis=0)
    scale = np.abs(np.asarray(signature.target_scaler.scale, dtype=np.float64))
    per_target = {
        name: {"rms_change": float(r * s), "max_abs_change": float(m * s)}
        for name, r, m, s in zip(signature.targets, rms, top, scale)
    }
    return {
        "rms_change": float(rms.max()),
        "max_abs_change": float(top.max()),
        "per_target": per_target,
    }


def side_effects(run: Runner, x: np.ndarray, signature: Signature, config: ReduceConfig) -> dict:
    """How far a chunk, and a stream batched with another stream, drift from single steps
    (model units)."""
    steps = run_stepwise(run, x, zero_states(signature, 1))
    chunk = run(x, zero_states(signature, 1))
    other_user, _ = comparison_inputs(signature, x.shape[1], config.seed + 1)
    other = signature.input_scaler.transform(other_user)[None]
    batched = run_stepwise(run, np.concatenate([x, other]), zero_states(signature, 2))
    return {
        "chunk_vs_steps_change": _max_abs(chunk[0], steps[0]),
        "batch_coupling_change": _max_abs(batched[0][:1], steps[0]),
        "side_effect_steps": int(x.shape[1]),
    }


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    value = float(np.max(np.abs(a.astype(np.float64) - b)))
    return value if math.isfinite(value) else float("inf")


def check_loaded(
    loaded_run: Runner, reduced: Reduced, signature: Signature, tolerance: float = TOLERANCES.parity
) -> None:
    """The written file, loaded by the runtime, gives the measured numbers (when measured on its
    provider)."""
    got = run_stepwise(loaded_run, reduced.check_x, zero_states(signature, 1))
    if not all(np.isfinite(a).all() for a in (got[0], *got[1])):
        raise ExportError(
            "export failed: edgernn.load() of the reduced graph gives non-finite outputs; nothing "
            "was written"
        )
    if reduced.expected is not None:
        error = max(
            _max_abs(got[0], reduced.expected[0]),
            *(_max_abs(g, w) for g, w in zip(got[1], reduced.expected[1])),
        )
        if not error <= tolerance:
            raise ExportError(
                f"export failed: edgernn.load() of the reduced graph is off by {error:.1e} from "
                "what "
                f"was measured (> {tolerance:.0e}); nothing was written"
            )
