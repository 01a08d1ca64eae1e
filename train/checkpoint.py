"""Checkpoints that describe themselves: weights plus everything needed to rebuild and export.

A checkpoint is one ``torch.save`` dict:

- ``format`` / ``version``: what this file is ("edgernn.checkpoint", 1);
- ``model_config``: the ``ForecasterConfig`` fields, enough to rebuild the module;
- ``state_dict``: the weights;
- ``signature``: the signature fields known at training time (task, arch, layers, features,
  targets, scalers as dicts, window, anomaly_threshold, provenance); export adds the states,
  the graph names and the measured parity;
- ``train_config``: the training settings, for the record;
- ``metrics``: the training report's numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgernn.errors import DataError
from edgernn.signature import Scaler
from edgernn.train.models import Forecaster, ForecasterConfig

FORMAT = "edgernn.checkpoint"
VERSION = 1
FORECAST = (
    "forecast"  # the kind of a checkpoint with no "kind" field: save_checkpoint's forecasters
)


@dataclass
class Checkpoint:
    model: Forecaster  # rebuilt, weights loaded, in eval mode
    signature: dict  # signature fields known at training time (see module doc)
    train_config: dict  # the training settings
    metrics: dict  # the training report's numbers

    @property
    def input_scaler(self) -> Scaler:
        return Scaler(**self.signature["input_scaler"])

    @property
    def target_scaler(self) -> Scaler:
        return Scaler(**self.signature["target_scaler"])


def save_checkpoint(
    path: str | Path, model: Forecaster, signature: dict, train_config: dict, metrics: dict
) -> Path:
    """Write a self-describing checkpoint. Scalers in ``signature`` may be Scaler objects or dicts."""
    sig = {k: (dataclasses.asdict(v) if isinstance(v, Scaler) else v) for k, v in signature.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "model_config": model.config.to_dict(),
            "state_dict": model.state_dict(),
            "signature": sig,
            "train_config": train_config,
            "metrics": metrics,
        },
        path,
    )
    return path


def read_raw(path: str | Path, want: str = "a checkpoint.pt from `edgernn train`") -> dict:
    """The stored dict of any edgernn checkpoint (format and version checked); a clear DataError
    otherwise, ending with "pass ``want``"."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"checkpoint {str(path)!r} does not exist; pass the checkpoint.pt that `edgernn train` wrote"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        raise DataError(
            f"checkpoint {str(path)!r} cannot be read ({type(e).__name__}); pass {want}"
        ) from e
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError(f"{str(path)!r} is not an edgernn checkpoint; pass {want}")
    if raw.get("version") != VERSION:
        raise DataError(
            f"checkpoint {str(path)!r} has version {raw.get('version')!r}, this edgernn reads {VERSION}; retrain or upgrade"
        )
    return raw


def checkpoint_kind(path: str | Path) -> str:
    """What a checkpoint holds: "forecast", or the ``kind`` of ``save_module`` (charlm, classify, seq2seq)."""
    return str(read_raw(path).get("kind", FORECAST))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a forecaster checkpoint written by ``save_checkpoint``; a clear DataError otherwise."""
    raw = read_raw(path)
    kind = raw.get("kind", FORECAST)
    if kind != FORECAST:
        raise DataError(
            f"{str(path)!r} is a {kind} checkpoint, not a forecaster's; load it with the {kind} loader "
            f"(edgernn.train.{kind}), or pass a checkpoint from `edgernn train forecast`"
        )
    model = Forecaster(ForecasterConfig(**raw["model_config"]))
    model.load_state_dict(raw["state_dict"])
    model.eval()
    return Checkpoint(model, raw["signature"], raw.get("train_config", {}), raw.get("metrics", {}))


# ---- the other tasks' checkpoints: same format, a ``kind`` naming the model class ----------------
def save_module(path: str | Path, kind: str, model: nn.Module, signature: dict) -> Path:
    """Save a char LM, classifier or seq2seq net: format, version, kind, config, weights, signature fields."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "kind": kind,
            "model_config": model.config.to_dict(),
            "state_dict": model.state_dict(),
            "signature": signature,
        },
        path,
    )
    return path


def load_module(
    path: str | Path, kind: str, build: Callable[[dict], nn.Module]
) -> tuple[nn.Module, dict]:
    """(model rebuilt by ``build(model_config)`` in eval mode, signature fields) from ``save_module``."""
    raw = read_raw(path, f"a {kind} checkpoint.pt from `edgernn train {kind}`")
    if raw.get("kind", FORECAST) != kind:
        raise DataError(
            f"{str(path)!r} is a {raw.get('kind', FORECAST)} checkpoint, not a {kind} one; "
            f"pass the checkpoint `edgernn train {kind}` wrote"
        )
    model = build(raw["model_config"])
    model.load_state_dict(raw["state_dict"])
    return model.eval(), raw["signature"]
