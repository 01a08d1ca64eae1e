"""ONNX Runtime IOBinding helpers: a ready call that runs a binding, and a copy on a device.

Every pre-bound graph call in edgernn (``StepBuffers``, the pool's ``Slabs``, ``WindowStream``)
binds its inputs, outputs and states once and then only calls ``run_call``'s result.
"""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort


def run_call(
    session: ort.InferenceSession,
    binding: ort.IOBinding,
    run_options: ort.RunOptions | None = None,
) -> functools.partial[None]:
    """A call that runs ``binding``: ``session.run_with_iobinding(binding, run_options)``, or
    its compiled core when this onnxruntime has one where 1.31 does. The wrapper only adds
    checks for WebGPU graph capture, ~0.4 us a call here. Run options only when needed (CUDA
    graph ids): with them a call costs ~30 us more (onnxruntime 1.31 queries a run-config
    entry every call)."""
    core, raw = getattr(session, "_sess", None), getattr(binding, "_iobinding", None)
    if core is not None and raw is not None and hasattr(core, "run_with_iobinding"):
        return functools.partial(core.run_with_iobinding, raw, run_options)
    return functools.partial(session.run_with_iobinding, binding, run_options)


def device_copy(a: np.ndarray, device: str) -> ort.OrtValue:
    """An OrtValue copy of ``a`` allocated by ONNX Runtime on ``device`` ("cuda", or "cpu" in
    tests)."""
    v = ort.OrtValue.ortvalue_from_shape_and_type(a.shape, a.dtype, device, 0)
    v.update_inplace(a)
    return v
