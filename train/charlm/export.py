"""A char LM to its streaming graph (``tokens`` (batch, time) int64 + states -> ``logits``
(batch, time, vocab) + states), and its checks against a checkpoint."""

from __future__ import annotations

from pathlib import Path

from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.signature import Signature, StateSpec, TensorSpec
from edgernn.train.charlm.model import CharLM, CharLMConfig
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.checks import Graph, VerifyOptions, checkpoint_facts, module_checks
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import export_module
from edgernn.train.export.parity import BATCH, TIME, GraphNames
from edgernn.train.export.signature import graph_signature

TASK = "generate"


def build(config: dict) -> CharLM:
    """An untrained char LM from a checkpoint's ``model_config``."""
    return CharLM(CharLMConfig(**config))


def export_charlm(
    model: CharLM, fields: dict, out: str | Path, config: ExportConfig | None = None
) -> Signature:
    """Export through the verified exporter with graph names ``tokens`` / ``logits``."""
    config = config or ExportConfig.for_logits("tokens")
    if config.reduction() is not None:
        raise UsageError(
            "--quantize / --precision fp16 are not supported for char LMs yet; export float32"
        )

    def describe(names: GraphNames, states: tuple[StateSpec, ...], parity: dict) -> Signature:
        return graph_signature(
            fields,
            task=TASK,
            arch="lstm",
            layers=fields["layers"],
            states=states,
            inputs=(TensorSpec(names.input, (BATCH, TIME), "int64"),),
            outputs=(TensorSpec(names.output, (BATCH, TIME, model.config.vocab_size)),),
            parity=parity,
        )

    return export_module(model.eval(), Path(out), config, describe)


def export_checkpoint(ckpt: Checkpoint, out: Path, config: ExportConfig) -> Signature:
    return export_charlm(ckpt.model, ckpt.signature, out)


def verify_charlm(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Contract, signature, three-way parity."""
    vocab = ckpt.model.config.vocab_size
    return module_checks(
        [Graph(model, ckpt.model)], lambda role: checkpoint_facts(TASK, ckpt, vocab), options
    )
