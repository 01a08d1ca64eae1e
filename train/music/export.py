"""A music model to its streaming graph (``tokens`` (batch, time) int64 + states -> ``logits``
(batch, time, events) + states), and its checks against a checkpoint: the char LM's export
with the task "music"."""

from __future__ import annotations

from pathlib import Path

from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.signature import Signature, StateSpec, TensorSpec
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.export.checks import Graph, VerifyOptions, checkpoint_facts, module_checks
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import export_module
from edgernn.train.export.parity import BATCH, TIME, GraphNames
from edgernn.train.export.signature import graph_signature
from edgernn.train.music.config import MusicConfig
from edgernn.train.music.model import EventLM

TASK = "music"
KIND = "music"  # checkpoint kind and `edgernn train` subcommand


def build(config: dict) -> EventLM:
    """An untrained music model from a checkpoint's ``model_config``."""
    config = dict(config)
    config.pop("corpus", None)  # derived from data
    return EventLM(MusicConfig(**config))


def export_music(model: EventLM, fields: dict, out: str | Path) -> Signature:
    """Export through the verified exporter with graph names ``tokens`` / ``logits``."""

    def describe(names: GraphNames, states: tuple[StateSpec, ...], parity: dict) -> Signature:
        return graph_signature(
            fields,
            task=TASK,
            arch=model.config.arch,
            layers=fields["layers"],
            states=states,
            inputs=(TensorSpec(names.input, (BATCH, TIME), "int64"),),
            outputs=(TensorSpec(names.output, (BATCH, TIME, model.config.vocab_size)),),
            parity=parity,
        )

    return export_module(model.eval(), Path(out), ExportConfig.for_logits("tokens"), describe)


def export_checkpoint(ckpt: Checkpoint, out: Path, config: ExportConfig) -> Signature:
    return export_music(ckpt.model, ckpt.signature, out)


def verify_music(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Contract, signature, three-way parity."""
    vocab = ckpt.model.config.vocab_size
    return module_checks(
        [Graph(model, ckpt.model)], lambda role: checkpoint_facts(TASK, ckpt, vocab), options
    )
