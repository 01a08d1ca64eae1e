"""A classifier to its streaming graph, and its checks against a checkpoint.

The graph takes ``x`` (batch, time, features) in model units, or ``tokens`` (batch, time)
int64 for a text classifier, plus its states, and returns ``logits`` (batch, time, classes):
the classification of the sequence seen so far, at every step.
"""

from __future__ import annotations

from pathlib import Path

from edgernn.checks import Check
from edgernn.core.model import Model
from edgernn.errors import UsageError
from edgernn.signature import Signature, StateSpec, TensorSpec
from edgernn.train.checkpoint import Checkpoint
from edgernn.train.classify.ensemble import Ensemble, TCNEnsemble, build_classifier
from edgernn.train.classify.model import Classifier, ClassifierConfig
from edgernn.train.export.checks import Graph, VerifyOptions, checkpoint_facts, module_checks
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import export_module
from edgernn.train.export.parity import BATCH, TIME, GraphNames
from edgernn.train.export.signature import graph_signature

TASK = "classify"


def build(config: dict) -> Classifier | Ensemble | TCNEnsemble:
    """An untrained classifier (or ensemble) from a checkpoint's ``model_config``."""
    return build_classifier(ClassifierConfig(**config))


def export_classifier(
    model: Classifier | Ensemble | TCNEnsemble,
    fields: dict,
    out: str | Path,
    config: ExportConfig | None = None,
) -> Signature:
    """Export through the verified exporter (ONNX Runtime within 1e-5 of PyTorch); ``fields``:
    the signature fields of ``run_classify``."""
    token = bool(model.config.vocab_size)
    config = config or ExportConfig.for_logits("tokens" if token else "x")
    if config.reduction() is not None:
        raise UsageError(
            "--quantize / --precision fp16 are not supported for classifiers yet; export float32"
        )

    def describe(names: GraphNames, states: tuple[StateSpec, ...], parity: dict) -> Signature:
        cfg = model.config
        shape = (BATCH, TIME) if token else (BATCH, TIME, cfg.n_features)
        return graph_signature(
            fields,
            task=TASK,
            arch=cfg.arch,
            layers=cfg.hidden,
            states=states,
            inputs=(TensorSpec(names.input, shape, "int64" if token else "float32"),),
            outputs=(TensorSpec(names.output, (BATCH, TIME, cfg.n_classes)),),
            parity=parity,
        )

    return export_module(model.eval(), Path(out), config, describe)


def export_checkpoint(ckpt: Checkpoint, out: Path, config: ExportConfig) -> Signature:
    return export_classifier(ckpt.model, ckpt.signature, out)


def verify_classifier(model: Model, ckpt: Checkpoint, options: VerifyOptions) -> list[Check]:
    """Contract, signature (labels too), three-way parity."""
    outputs = ckpt.model.config.n_classes
    return module_checks(
        [Graph(model, ckpt.model)], lambda role: checkpoint_facts(TASK, ckpt, outputs), options
    )
