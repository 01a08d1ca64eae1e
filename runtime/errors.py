"""One exception family for everything edgernn refuses to do.

Library code raises these; only the CLI turns them into a one-line message and an exit
code (``EdgernnError.exit_code``). Every message names the bad value and the fix.
"""

from __future__ import annotations

from typing import Any


class EdgernnError(Exception):
    """Base of every error edgernn raises on purpose."""

    exit_code = 1


class ModelError(EdgernnError):
    """A model file is missing, unreadable, or not an ONNX graph ONNX Runtime can load."""

    exit_code = 3


class SignatureError(ModelError):
    """A model has no ``edgernn.signature``, or one this runtime cannot read."""


class ProviderError(EdgernnError):
    """An execution provider was asked for and cannot run here (never a silent fallback)."""

    exit_code = 4


class DataError(EdgernnError):
    """Input data cannot be used: a missing column, an unreadable file, a bad shape."""

    exit_code = 5


class RecordError(DataError):
    """One streamed record is bad. Streams count it, set it aside, and go on."""


class StateError(EdgernnError):
    """A snapshot does not belong to this model, or is corrupt."""

    exit_code = 6


class ExportError(EdgernnError):
    """An export did not match its PyTorch source within tolerance, so nothing was written.

    ``candidates`` (each exporter tried, with its per-shape errors) and ``quantization`` (the
    reduced graph's measurement) are set where the export has them, for ``--json``."""

    exit_code = 7
    candidates: list[dict[str, Any]] | None = None
    quantization: dict[str, Any] | None = None


class UsageError(EdgernnError):
    """The API was called in a way that cannot work (a window model asked to step, ...)."""

    exit_code = 2
