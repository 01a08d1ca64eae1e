"""The implementations compared, each as a ``Step``: a callable ``fn(i)`` doing one call.

One call steps ``batch`` streams by ``chunk`` time steps with the state carried to the next
call. The same weights everywhere (``benchmarks/models.py``):

- ``edgernn``: ``Stream.step`` (one step), ``Stream.steps`` (a chunk), the pool's
  ``step_batch`` (many streams; see ``edgernn.bench.run.edgernn_batch``). User units in and out.
- ``bare_ort``: ``InferenceSession.run`` with numpy feeds, what a user writes by hand.
- ``torch``: PyTorch eager ``model(x, *states)`` under ``torch.inference_mode()``, one thread,
  with PyTorch's defaults (oneDNN on); ``torch_native``: the same with oneDNN off
  (``edgernn.train.cells.native_kernels``), which is much faster for small LSTM batches here.
- ``numpy``: ``numpy_cell.NumpyForecaster``, the no-dependency baseline.

All but edgernn take inputs already scaled to model units (edgernn does the scaling itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from models import BenchModel
from numpy_cell import NumpyForecaster

import edgernn
from edgernn.bench.measure import Step, bare_loop, bare_session, edgernn_batch, sample_rows

IMPLS = ("edgernn", "bare_ort", "torch", "torch_native", "numpy")
LABELS = {
    "edgernn": "edgernn",
    "bare_ort": "bare ORT run()",
    "torch": "torch eager (oneDNN on)",
    "torch_native": "torch eager (oneDNN off)",
    "numpy": "numpy cell",
}


@dataclass
class Loaded:
    """One benchmark model in every form."""

    bm: BenchModel
    model: edgernn.Model
    session: ort.InferenceSession
    net: object  # edgernn.train.forecast.model.Forecaster
    cell: NumpyForecaster


def load(bm: BenchModel) -> Loaded:
    import torch

    from edgernn.train.registry import load_checkpoint

    torch.set_num_threads(1)
    model = edgernn.load(bm.path("onnx"), provider="cpu", intra_op_threads=1)
    return Loaded(
        bm,
        model,
        bare_session(model),
        load_checkpoint(bm.path("pt")).model.eval(),
        NumpyForecaster(bm.path("npz")),
    )


def inputs(
    L: Loaded, batch: int, chunk: int, seed: int = 0, n: int = 8
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` input sets (batch, chunk, F): user units and model units."""
    sig = L.model.signature
    user = [sample_rows(sig, batch * chunk, seed + k).reshape(batch, chunk, -1) for k in range(n)]
    return user, [sig.input_scaler.transform(u) for u in user]


def make(impl: str, L: Loaded, batch: int = 1, chunk: int = 1) -> Step:
    """The ``Step`` of ``impl`` over ``batch`` streams and ``chunk`` steps per call."""
    user, scaled = inputs(L, batch, chunk)
    return {
        "edgernn": _edgernn,
        "bare_ort": _bare,
        "torch": _torch,
        "torch_native": _torch,
        "numpy": _numpy,
    }[impl](L, user, scaled, batch, chunk, impl)


def _edgernn(L: Loaded, user, scaled, batch: int, chunk: int, impl: str) -> Step:
    if batch > 1:
        if chunk > 1:
            raise ValueError("edgernn steps many streams one step at a time")
        return edgernn_batch(L.model, [u[:, 0] for u in user], batch)[0]
    s = L.model.stream()
    if chunk > 1:
        rows = [u[0] for u in user]  # (T, F)
        return lambda i: s.steps(rows[i % len(rows)])
    rows = [u[0, 0] for u in user]  # (F,)
    return lambda i: s.step(rows[i % len(rows)])


def _bare(L: Loaded, user, scaled, batch: int, chunk: int, impl: str) -> Step:
    return bare_loop(L.session, L.model.signature, scaled, batch)


def _torch(L: Loaded, user, scaled, batch: int, chunk: int, impl: str) -> Step:
    import torch

    onednn = impl == "torch"
    xs = [torch.from_numpy(x) for x in scaled]
    states = L.net.initial_state(batch)

    def step(i: int) -> None:
        nonlocal states
        if torch.backends.mkldnn.enabled != onednn:  # a global switch: set for this call
            torch.backends.mkldnn.enabled = onednn
        with torch.inference_mode():
            _, *states = L.net(xs[i % len(xs)], *states)

    return step


def _numpy(L: Loaded, user, scaled, batch: int, chunk: int, impl: str) -> Step:
    cell, states = L.cell, L.cell.initial_state(batch)
    if chunk == 1:
        xs = [x[:, 0] for x in scaled]  # (B, F)

        def step(i: int) -> None:
            nonlocal states
            _, states = cell.step(xs[i % len(xs)], states)
    else:

        def step(i: int) -> None:
            nonlocal states
            _, states = cell.run(scaled[i % len(scaled)], states)

    return step
