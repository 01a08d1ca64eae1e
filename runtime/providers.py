"""Execution providers and low-latency session options.

``auto`` takes CUDA only when it really works (a driver is present and a session really
runs on it) and otherwise the CPU; ``cuda`` is an error when CUDA cannot run, never a silent
fallback. ONNX Runtime's threads spin by default and starve the rest of a streaming
process, so spinning is off and intra-op threads are few unless asked otherwise.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

import onnxruntime as ort

from edgernn.errors import ProviderError, UsageError

PROVIDERS = ("auto", "cpu", "cuda")
_ORT_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True)
class SessionConfig:
    provider: str = "auto"  # "auto" | "cpu" | "cuda"
    intra_op_threads: int = 1  # threads inside one operator; 1 is best for one small stream
    inter_op_threads: int = 1  # threads across independent operators
    spinning: bool = False  # let idle ORT threads spin (lower latency, burns a core)

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise UsageError(f"unknown provider {self.provider!r}; choose one of {', '.join(PROVIDERS)}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise UsageError("thread counts must be >= 0 (0 lets ONNX Runtime choose)")


def session_options(config: SessionConfig) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = config.intra_op_threads
    so.inter_op_num_threads = config.inter_op_threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if config.spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    so.log_severity_level = 3  # errors only
    return so


def cuda_missing() -> str | None:
    """Why CUDA cannot run here, or None when it may (a session still has to prove it)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"this onnxruntime ({ort.__version__}) has no CUDA provider; pip install onnxruntime-gpu"
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libcuda.so.1")
        except OSError:
            return "no NVIDIA driver found (libcuda.so.1 cannot be loaded)"
    return None


def create_session(model: bytes | str, config: SessionConfig) -> tuple[ort.InferenceSession, str, str]:
    """An InferenceSession on the provider ``config`` asks for, the one it got, and why.

    The third value is a short note for the user: "" when the choice needs no comment, or
    why ``auto`` did not take CUDA.
    """
    so = session_options(config)
    if config.provider == "cpu":
        return ort.InferenceSession(model, so, providers=[_ORT_NAMES["cpu"]]), "cpu", ""
    why = cuda_missing()
    if why is None:
        try:
            sess = ort.InferenceSession(model, so, providers=[_ORT_NAMES["cuda"], _ORT_NAMES["cpu"]])
        except Exception as e:  # ORT raises RuntimeError subclasses with the loader's reason
            sess, why = None, f"CUDA session failed: {str(e).splitlines()[0]}"
        if sess is not None and sess.get_providers()[0] == _ORT_NAMES["cuda"]:
            return sess, "cuda", ""
        why = why or "the CUDA provider could not start (CUDA 12/13 or cuDNN 9 libraries missing?)"
    if config.provider == "cuda":
        raise ProviderError(f"provider 'cuda' cannot run here: {why}; use --provider cpu or auto")
    return ort.InferenceSession(model, so, providers=[_ORT_NAMES["cpu"]]), "cpu", f"cuda not used: {why}"
