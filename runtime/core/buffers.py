"""Step buffers: a model's input, output and state bound once, so a step allocates nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from edgernn.core.binding import device_copy, run_call
from edgernn.core.protocols import LoadedModel
from edgernn.core.providers import graph_run_options
from edgernn.core.views import flat
from edgernn.signature import Signature


class StepBuffers:
    """One-step calls without per-call allocation: x, y and two state sets bound once.

    Binding ``k`` reads states from set ``k`` and writes set ``1 - k``; each call flips
    ``current``, so the new state is where the next call reads it and nothing is copied.
    On ``device="host"`` the state sets are numpy arrays bound zero-copy; on an ONNX Runtime
    device ("cuda"; "cpu" runs the same code path on the CPU) they are OrtValues allocated
    there, so the state never makes a host round trip between steps (only x and y travel).
    ``x_mem`` and ``y_mem`` are flat float memoryviews of ``x`` and ``y``: a hot loop writes a
    step's input and reads its output through them (item stores, ``tolist``) without numpy.

    >>> import edgernn
    >>> buf = edgernn.load(provider="cpu").step_buffers(1)
    >>> buf.x.shape, buf.run().shape, buf.current        # one step of zeros; the sets flipped
    ((1, 1, 2), (1, 1, 1), 1)
    """

    def __init__(self, model: LoadedModel, batch: int = 1, device: str = "host"):
        sig = model.signature
        self.session, self.device = model.session, device
        # one step of the main input, e.g. (B, 1, F) model units
        self.x = sig.inputs[0].zeros(batch)
        self.y = sig.outputs[0].zeros(batch)  # one step of the main output, e.g. (B, 1, n_targets)
        self.x_mem, self.y_mem = flat(self.x), flat(self.y)
        # with CUDA graphs each binding replays its own captured graph: two graph ids, else None
        self.run_options = graph_run_options(model.config) if device == "cuda" else None
        # (x, y) on the device when a CUDA graph replays: it reads fixed device addresses
        self._io: tuple[Any, ...] = ()
        if self.run_options is not None:
            self._io = tuple(device_copy(a, device) for a in (self.x, self.y))
            self.run = self._run_graph  # type: ignore[method-assign]
        self.sets = (self._new_set(model, batch), self._new_set(model, batch))
        self.bindings = tuple(self._bind(sig, self.sets[k], self.sets[1 - k]) for k in (0, 1))
        # binding k, ready to call
        self._calls: tuple[Callable[[], None], ...] = tuple(
            run_call(self.session, b, None if self.run_options is None else self.run_options[k])
            for k, b in enumerate(self.bindings)
        )
        self.current = 0

    def _new_set(self, model: LoadedModel, batch: int) -> list[Any]:
        """One state set: numpy arrays on the host, else OrtValues on the device."""
        host = model.initial_state(batch)
        if self.device == "host":
            return host
        return [device_copy(h, self.device) for h in host]

    def _bind(self, sig: Signature, states_in: list[Any], states_out: list[Any]) -> Any:
        b = self.session.io_binding()
        x, y = self._io or (_value(self.x), _value(self.y))
        b.bind_ortvalue_input(sig.input_name, x)
        b.bind_ortvalue_output(sig.output_name, y)
        for spec, s_in, s_out in zip(sig.states, states_in, states_out):
            b.bind_ortvalue_input(spec.input, _value(s_in))
            b.bind_ortvalue_output(spec.output, _value(s_out))
        return b

    @property
    def states(self) -> list[np.ndarray]:
        """The live state as host arrays (views on the host, copies from a device)."""
        live = self.sets[self.current]
        return live if self.device == "host" else [v.numpy() for v in live]

    def load(self, states: Sequence[np.ndarray]) -> None:
        for dst, src in zip(self.sets[self.current], states):
            if self.device == "host":
                np.copyto(dst, src)
            else:
                dst.update_inplace(np.ascontiguousarray(src, dtype=np.float32))

    def run(self) -> np.ndarray:
        """One step on ``self.x``; returns ``self.y`` (overwritten by the next call)."""
        self._calls[self.current]()
        self.current ^= 1
        return self.y

    def _run_graph(self) -> np.ndarray:
        """``run`` under CUDA graphs: x goes up into, and y comes down from, the fixed device
        buffers."""
        x, y = self._io
        x.update_inplace(self.x)
        self._calls[self.current]()
        self.current ^= 1
        np.copyto(self.y, y.numpy())
        return self.y


def _value(a: Any) -> Any:
    """``a`` as an OrtValue: as it is, or a numpy array wrapped without a copy."""
    return a if isinstance(a, ort.OrtValue) else ort.OrtValue.ortvalue_from_numpy(a)
