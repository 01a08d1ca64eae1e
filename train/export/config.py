"""What an exported graph looks like and how hard it is checked: ``ExportConfig``.

>>> config = ExportConfig(input_name="tokens", output_name="logits")
>>> config.names(2).fetches
['logits', 'state_out.0', 'state_out.1']
>>> config.reduction() is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgernn.errors import UsageError
from edgernn.signature import TOLERANCES
from edgernn.train.export.parity import GraphNames
from edgernn.train.export.quantize import (
    DEFAULT_STEPS,
    DEFAULT_TOLERANCE,
    FP16,
    INT8,
    ReduceConfig,
)

EXPORTERS = ("torchscript", "dynamo")
QUANTIZE = ("int8",)
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class ExportConfig:
    """What the exported graph looks like and how hard it is checked."""

    input_name: str = "x"  # graph input (batch, time, features), model units
    output_name: str = "y"  # graph output (batch, time, targets), model units
    state_input: str = "state_in.{}"  # name of state input N (format with N)
    state_output: str = "state_out.{}"  # name of state output N (format with N)
    opset: int = 17  # ONNX opset; 17 has LSTM/GRU/RNN as single ops and loads on ORT >= 1.14
    # max abs error vs PyTorch over y and every state, model units (ONNX Runtime)
    tolerance: float = TOLERANCES.parity
    reference_tolerance: float | None = None  # the same for onnx.reference (None: ``tolerance``)
    # (batch, length) checked
    verify_shapes: tuple[tuple[int, int], ...] = ((1, 1), (1, 50), (4, 7))
    trace_shape: tuple[int, int] = (2, 3)  # tracing example; batch, length >= 2 keep axes dynamic
    state_scale: float = 0.5  # std of random initial states in verification (zeros are run too)
    exporters: tuple[str, ...] = EXPORTERS  # tried in order; the first graph that verifies wins
    seed: int = 0  # seed of the random verification inputs
    # None | "int8": dynamic int8 weights after verification (CPU provider; see quantize.py)
    quantize: str | None = None
    # "fp32" | "fp16": float16 recurrent layers, float32 I/O and states (CUDA provider)
    precision: str = "fp32"
    # max RMS forecast change vs float32, fraction of the target's scale
    quant_tolerance: float = DEFAULT_TOLERANCE
    quant_steps: int = DEFAULT_STEPS  # length of the stateful float32-vs-reduced comparison
    # write a reduced graph over quant_tolerance or unmeasured; never overrides float32 parity
    force: bool = False

    @classmethod
    def for_logits(cls, input_name: str = "tokens", **fields: Any) -> ExportConfig:
        """A graph of a model that ends in unnormalised logits (token and classifier models; a
        seq2seq encoder is held as its decoder is); ``output_name`` is "logits" unless given.
        ONNX Runtime is held to ``TOLERANCES.parity`` like every export; onnx.reference, which
        accumulates in another order, to ``TOLERANCES.reference`` (|logit| ~ 20 puts it ~1.1e-5
        off from float32 rounding alone)."""
        fields.setdefault("output_name", "logits")
        return cls(input_name=input_name, reference_tolerance=TOLERANCES.reference, **fields)

    def __post_init__(self) -> None:
        unknown = [e for e in self.exporters if e not in EXPORTERS]
        if unknown or not self.exporters:
            raise UsageError(
                f"unknown exporter(s) {unknown or '(none given)'}; "
                f"choose from {', '.join(EXPORTERS)}"
            )
        if not self.tolerance >= 0:
            raise UsageError(f"tolerance must be >= 0, got {self.tolerance}")
        if min(self.trace_shape) < 2:
            raise UsageError(
                "trace_shape needs batch and length >= 2 (1 fixes that axis), "
                f"got {self.trace_shape}"
            )
        if not self.verify_shapes or min(min(s) for s in self.verify_shapes) < 1:
            raise UsageError(
                f"verify_shapes must be positive (batch, length) pairs, got {self.verify_shapes}"
            )
        self._check_reduction()

    def _check_reduction(self) -> None:
        if self.quantize not in (None, *QUANTIZE):
            raise UsageError(
                f"unknown --quantize {self.quantize!r}; "
                f"choose {', '.join(QUANTIZE)} (or leave it out)"
            )
        if self.precision not in PRECISIONS:
            raise UsageError(
                f"unknown --precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        if self.quantize and self.precision == "fp16":
            raise UsageError(
                "--quantize int8 and --precision fp16 cannot be combined (int8 is for the CPU "
                "provider, fp16 for CUDA); pick one"
            )
        self.reduction()  # checks quant_tolerance and quant_steps

    def reduction(self) -> ReduceConfig | None:
        """The post-step asked for, or None for a plain float32 export."""
        mode = INT8 if self.quantize else FP16 if self.precision == "fp16" else None
        if mode is None:
            return None
        return ReduceConfig(
            mode, self.quant_tolerance, self.quant_steps, self.force, seed=self.seed
        )

    def names(self, n_states: int) -> GraphNames:
        return GraphNames(
            self.input_name,
            self.output_name,
            tuple(self.state_input.format(i) for i in range(n_states)),
            tuple(self.state_output.format(i) for i in range(n_states)),
        )
