"""A forecaster's checkpoint to its streaming graph (``edgernn.train.export.graph``).

The graph takes ``x`` (batch, time, features) in model units plus its states and returns ``y``
(batch, time, targets); a window model (bidirectional) returns ``y`` (batch, 1, targets), the
forecast after the window, and has no states. Forecasters are the task that can also be
exported reduced (``--quantize int8``, ``--precision fp16``) and held to another tolerance.
"""

from __future__ import annotations

from pathlib import Path

from edgernn.errors import DataError, UsageError
from edgernn.signature import Signature, StateSpec, TensorSpec
from edgernn.train.checkpoint import FORECAST, Checkpoint, load
from edgernn.train.export.config import ExportConfig
from edgernn.train.export.graph import export_module
from edgernn.train.export.parity import BATCH, TIME, GraphNames, is_causal
from edgernn.train.export.signature import graph_signature
from edgernn.train.forecast.model import Forecaster, ForecasterConfig


def build(config: dict) -> Forecaster:
    """An untrained forecaster from a checkpoint's ``model_config``."""
    return Forecaster(ForecasterConfig(**config))


def export_checkpoint(
    path: str | Path, out: str | Path, config: ExportConfig | None = None
) -> Signature:
    """Load the forecaster checkpoint at ``path`` and export it to ``out`` (``export_model``)."""
    return export_model(load(path, FORECAST, build), out, config)


def export_model(
    checkpoint: Checkpoint, out: str | Path, config: ExportConfig | None = None
) -> Signature:
    """Export, verify and write ``checkpoint`` to ``out``; the signature written into the graph.

    Raises ``ExportError`` (with the per-shape report) when no exporter passes, or when the
    ``--quantize`` / fp16 graph changes the forecast by more than ``quant_tolerance`` and
    ``force`` is off; nothing is written then, and a file already at ``out`` is left as it was.
    ``config``: the default ``ExportConfig()`` when None.
    """
    config = config or ExportConfig()
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a directory; pass a file path such as model.onnx")
    _check_consistent(checkpoint)
    return export_module(
        checkpoint.model.eval(),
        out,
        config,
        lambda names, states, parity: build_signature(checkpoint, names, states, parity),
    )


def build_signature(
    checkpoint: Checkpoint, names: GraphNames, states: tuple[StateSpec, ...], parity: dict
) -> Signature:
    """The checkpoint's training-time fields plus graph names, states and measured parity."""
    fields, model = checkpoint.signature, checkpoint.model
    n_f, n_t = model.config.n_features, model.config.n_targets
    causal = is_causal(model)
    if not causal and int(fields.get("window", 0)) < 1:
        raise DataError(
            "a window model (bidirectional) needs the training window in its signature "
            "('window' >= 1); re-save it with `edgernn train`"
        )
    return graph_signature(
        fields,
        task=fields.get("task", "forecast"),
        arch=fields["arch"],
        layers=fields["layers"],
        states=states,
        inputs=(TensorSpec(names.input, (BATCH, TIME, n_f)),),
        outputs=(TensorSpec(names.output, (BATCH, TIME if causal else 1, n_t)),),
        parity=parity,
        causal=causal,
    )


def _check_consistent(checkpoint: Checkpoint) -> None:
    """DataError when the signature fields do not describe the model."""
    raw, cfg = checkpoint.signature, checkpoint.model.config
    try:
        facts = (raw["arch"], tuple(raw["layers"]), len(raw["features"]), len(raw["targets"]))
    except KeyError as e:
        raise DataError(
            f"the checkpoint's signature lacks {e.args[0]!r}; re-save it with `edgernn train`"
        ) from e
    model = (cfg.arch, tuple(cfg.hidden), cfg.n_features, cfg.n_targets)
    if facts != model:
        raise DataError(
            f"the checkpoint's signature {facts} does not match its model {model}; "
            "re-save it with `edgernn train`"
        )
