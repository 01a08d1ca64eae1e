"""Checkpoints that describe themselves, for every task: weights plus everything needed to
rebuild and export. Saved and loaded here only; ``edgernn.train.registry`` knows which module
each kind rebuilds.

A checkpoint is one ``torch.save`` dict:

- ``format`` / ``version``: what this file is ("edgernn.checkpoint", 1);
- ``kind``: the task's checkpoint kind ("charlm", "classify", "seq2seq"); absent for a
  forecaster (the first kind, written before there were others);
- ``model_config``: the model config's fields, enough to rebuild the module;
- ``state_dict``: the weights;
- ``signature``: the signature fields known at training time (task, arch, layers, features,
  targets, scalers as dicts, window, tokenizer, labels, provenance); export adds the states,
  the graph names and the measured parity;
- ``train_config`` / ``metrics``: the training settings and the report's numbers, for the
  record (forecasters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgernn.errors import DataError
from edgernn.signature import Scaler

FORMAT = "edgernn.checkpoint"
VERSION = 1
FORECAST = "forecast"  # the kind of a checkpoint with no "kind" field: a forecaster's

Builder = Callable[[dict], nn.Module]  # model_config -> the untrained module


@dataclass
class Checkpoint:
    """A checkpoint of any task, loaded (or a trained model held as one)."""

    model: nn.Module  # rebuilt, weights loaded, in eval mode
    signature: dict  # signature fields known at training time (see module doc)
    train_config: dict = field(default_factory=dict)  # the training settings
    metrics: dict = field(default_factory=dict)  # the training report's numbers
    kind: str = FORECAST  # forecast, charlm, classify or seq2seq

    @property
    def input_scaler(self) -> Scaler:
        return _scaler(self.signature["input_scaler"])

    @property
    def target_scaler(self) -> Scaler:
        return _scaler(self.signature["target_scaler"])


def _scaler(value: Scaler | dict) -> Scaler:
    return value if isinstance(value, Scaler) else Scaler(**value)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    signature: dict,
    train_config: dict | None = None,
    metrics: dict | None = None,
    *,
    kind: str = FORECAST,
) -> Path:
    """Write a self-describing checkpoint of ``model`` (which has a ``config.to_dict()``).
    Scalers in ``signature`` may be Scaler objects or dicts."""
    sig = {k: (dataclasses.asdict(v) if isinstance(v, Scaler) else v) for k, v in signature.items()}
    raw: dict = {"format": FORMAT, "version": VERSION}
    if kind != FORECAST:
        raw["kind"] = kind
    raw.update(model_config=model.config.to_dict(), state_dict=model.state_dict(), signature=sig)
    if train_config is not None:
        raw["train_config"] = train_config
    if metrics is not None:
        raw["metrics"] = metrics
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(raw, path)
    return path


def read_raw(path: str | Path, want: str = "a checkpoint.pt from `edgernn train`") -> dict:
    """The stored dict of any edgernn checkpoint (format and version checked); a clear DataError
    otherwise, ending with "pass ``want``"."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"checkpoint {str(path)!r} does not exist; "
            "pass the checkpoint.pt that `edgernn train` wrote"
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
            f"checkpoint {str(path)!r} has version {raw.get('version')!r}, "
            f"this edgernn reads {VERSION}; retrain or upgrade"
        )
    return raw


def checkpoint_kind(path: str | Path) -> str:
    """What a checkpoint holds: its ``kind`` (forecast, charlm, classify, seq2seq)."""
    return str(read_raw(path).get("kind", FORECAST))


def load(path: str | Path, kind: str, build: Builder) -> Checkpoint:
    """Read a checkpoint of ``kind`` and rebuild its module with ``build(model_config)``; a
    clear DataError for a missing or unreadable file, or a checkpoint of another kind."""
    raw = read_raw(path, _what(kind))
    found = str(raw.get("kind", FORECAST))
    if found != kind:
        raise DataError(_other_kind(Path(path), found, kind))
    model = build(raw["model_config"])
    model.load_state_dict(raw["state_dict"])
    model.eval()
    return Checkpoint(
        model, raw["signature"], raw.get("train_config", {}), raw.get("metrics", {}), kind
    )


def _what(kind: str) -> str:
    """The checkpoint to pass instead, as the error messages say it."""
    if kind == FORECAST:
        return "a checkpoint.pt from `edgernn train`"
    return f"a {kind} checkpoint.pt from `edgernn train {kind}`"


def _other_kind(path: Path, found: str, kind: str) -> str:
    if kind == FORECAST:
        return (
            f"{str(path)!r} is a {found} checkpoint, not a forecaster's; load it with the "
            f"{found} loader (edgernn.train.{found}), "
            "or pass a checkpoint from `edgernn train forecast`"
        )
    return (
        f"{str(path)!r} is a {found} checkpoint, not a {kind} one; "
        f"pass the checkpoint `edgernn train {kind}` wrote"
    )
