"""The pool's state slabs: every state tensor of every slot, in two alternating sets.

A dense tick (every slot ready) reads the live set and writes the spare one through an
IOBinding cached per stream count, then the two swap: nothing is gathered or copied. On a
device (``model.state_device`` "cuda"; "cpu" runs the same code path on the CPU) the sets are
OrtValues there, so between dense ticks the state never comes back to the host; sparse ticks,
joins, resets and snapshots work on a host copy, synced once each way when the kind of tick
changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from edgernn.core.binding import device_copy, run_call
from edgernn.core.protocols import LoadedModel
from edgernn.core.views import flat, flat_bytes
from edgernn.errors import StateError

# (binding, call, scratch in, scratch out, and byte views of the scratches) per tick size
Gathered = tuple[Any, Callable[[], None], list[np.ndarray], list[np.ndarray], list[Any], list[Any]]


class Slabs:
    """The buffers a pool's graph calls read and write: x (cap, 1, F), y (cap, 1, K) and one
    state slab per state tensor, the slot on its batch axis. Two state sets, like
    ``StepBuffers``: a dense tick over slots 0..n-1 reads set ``current`` and writes the other
    (bound by pointer to their first n slots: contiguous when the axes before the batch axis
    are 1, as in every edgernn export), then ``current`` flips.

    ``device="host"``: the sets are numpy arrays, and the live one is the pool's state.
    On an ONNX Runtime device ("cuda"; "cpu" runs the same code path on the CPU) the sets are
    OrtValues there, plus one host copy for everything else (sparse ticks, keys joining or
    leaving, snapshots): ``states()`` downloads the newest state first and marks the device
    copy stale, and the next dense tick uploads it again. So a run of dense ticks keeps the
    state on the device; each switch to other work costs one round trip of the whole slab.
    """

    def __init__(self, model: LoadedModel, capacity: int, device: str = "host"):
        sig = model.signature
        self.session, self.sig, self.device, self.capacity = model.session, sig, device, capacity
        self.run_options = getattr(model, "run_options", None)  # no CUDA graph for these calls
        self.axes = [spec.batch_axis for spec in sig.states]
        self.x = np.zeros((capacity, 1, len(sig.features)), np.float32)  # (cap, 1, F) model units
        self.y = np.zeros((capacity, 1, len(sig.targets)), np.float32)  # (cap, 1, K)
        self.x_mem, self.y_mem = flat(self.x), flat(self.y)
        # each: one (.., cap, ..) slab per state tensor
        self.sets = (self._new_set(), self._new_set())
        self.current = 0
        # the host copy of the state on a device (none on the host: the live set is it)
        self._host = [] if device == "host" else [spec.zeros(capacity) for spec in sig.states]
        self._newest = "host"  # where the newest state is: "host", "device" or "both" (device only)
        self._prefix_ok = all(
            int(a) == 1 for spec in sig.states for a in spec.shape[: spec.batch_axis]
        )
        # one slot's row of each state tensor, in bytes (contiguous when _prefix_ok), and byte
        # views of the host slabs (per set on the host, the one host copy on a device)
        self._row_bytes = [
            4 * math.prod(int(a) for a in spec.shape[spec.batch_axis + 1 :]) for spec in sig.states
        ]
        self._bytes = [
            [flat_bytes(a) for a in slabs]
            for slabs in (self.sets if device == "host" else [self._host])
        ]
        # (n, current) -> (binding, call)
        self._dense: dict[tuple[int, int], tuple[Any, Callable[[], None]]] = {}
        self._gathered: dict[int, Gathered] = {}  # n -> its bound buffers

    def _new_set(self) -> list[Any]:
        host = [spec.zeros(self.capacity) for spec in self.sig.states]
        if self.device == "host":
            return host
        return [device_copy(h, self.device) for h in host]

    def states(self, write: bool = True) -> list[np.ndarray]:
        """The state slabs as host arrays, for everything but dense ticks (see the class)."""
        if self.device == "host":
            return self.sets[self.current]
        if self._newest == "device":
            for h, v in zip(self._host, self.sets[self.current]):
                np.copyto(h, v.numpy())  # the device -> host half of the round trip
            self._newest = "both"
        if write:
            self._newest = "host"
        return self._host

    # ---- graph calls ---------------------------------------------------------------------------
    def run_dense(self, n: int) -> bool:
        """One graph call over slots 0..n-1 (x and y at the same rows); False when this state
        layout cannot be bound by slab prefixes (the caller gathers instead)."""
        if not self._prefix_ok:
            return False
        if self._newest == "host" and self.device != "host":
            for v, h in zip(self.sets[self.current], self._host):
                v.update_inplace(h)  # the host -> device half of the round trip
        key = (n, self.current)
        if key not in self._dense:
            if len(self._dense) >= 8:
                self._dense.clear()
            self._dense[key] = self._bind_dense(n)
        self._dense[key][1]()
        self.current ^= 1
        if self.device != "host":
            self._newest = "device"
        return True

    def _bind_dense(self, n: int) -> tuple[Any, Callable[[], None]]:
        sig, live, spare = self.sig, self.sets[self.current], self.sets[1 - self.current]
        b = self.session.io_binding()
        b.bind_ortvalue_input(sig.input_name, ort.OrtValue.ortvalue_from_numpy(self.x[:n]))
        b.bind_ortvalue_output(sig.output_name, ort.OrtValue.ortvalue_from_numpy(self.y[:n]))
        for spec, s_in, s_out in zip(sig.states, live, spare):
            shape = tuple(n if a == "batch" else int(a) for a in spec.shape)  # the first n slots
            b.bind_input(spec.input, *self._where(s_in), np.float32, shape, _pointer(s_in))
            b.bind_output(spec.output, *self._where(s_out), np.float32, shape, _pointer(s_out))
        return b, run_call(self.session, b, self.run_options)

    def _where(self, buf: Any) -> tuple[str, int]:
        return ("cpu", 0) if isinstance(buf, np.ndarray) else (self.device, 0)

    def run_gathered(self, slots: list[int]) -> None:
        """One graph call for a few slots in any order (x and y at rows 0..n-1): their state is
        copied into batch-n buffers bound once per n, and the new state copied back. Slot rows
        are copied as byte slices of memoryviews: a fancy-indexed numpy gather or scatter
        costs ~1 us per state tensor, more than the graph's whole input."""
        n = len(slots)
        if n not in self._gathered:
            self._gathered[n] = self._bind_gathered(n)
        _, call, scratch_in, scratch_out, bytes_in, bytes_out = self._gathered[n]
        slabs = self.states()
        if self._prefix_ok:
            pairs = list(enumerate(slots))  # (scratch row, slot)
            host = self._bytes[self.current if self.device == "host" else 0]
            self._copy_rows(bytes_in, host, pairs)
            call()
            self._copy_rows(host, bytes_out, [(j, i) for i, j in pairs])
            return
        for slab, ax, s_in in zip(slabs, self.axes, scratch_in):
            np.take(slab, slots, axis=ax, out=s_in)  # (.., n, ..)
        call()
        for slab, ax, s_out in zip(slabs, self.axes, scratch_out):
            slab[at(ax, slots)] = s_out

    def _copy_rows(
        self, dst: list[memoryview], src: list[memoryview], pairs: list[tuple[int, int]]
    ) -> None:
        """For each state tensor, row i of ``dst`` = row j of ``src`` for each (i, j) in
        ``pairs``."""
        for d, s, size in zip(dst, src, self._row_bytes):
            for i, j in pairs:
                d[i * size : (i + 1) * size] = s[j * size : (j + 1) * size]

    def _bind_gathered(self, n: int) -> Gathered:
        sig, value = self.sig, ort.OrtValue.ortvalue_from_numpy
        scratch_in = [spec.zeros(n) for spec in sig.states]
        scratch_out = [spec.zeros(n) for spec in sig.states]
        b = self.session.io_binding()
        b.bind_ortvalue_input(sig.input_name, value(self.x[:n]))
        b.bind_ortvalue_output(sig.output_name, value(self.y[:n]))
        for spec, s_in, s_out in zip(sig.states, scratch_in, scratch_out):
            b.bind_ortvalue_input(spec.input, value(s_in))
            b.bind_ortvalue_output(spec.output, value(s_out))
        call = run_call(self.session, b, self.run_options)
        bytes_in, bytes_out = (
            [flat_bytes(s) for s in scratch_in],
            [flat_bytes(s) for s in scratch_out],
        )
        return b, call, scratch_in, scratch_out, bytes_in, bytes_out

    # ---- slots, on the host copy ---------------------------------------------------------------
    def take(self, slots: np.ndarray) -> list[np.ndarray]:
        """The state of ``slots``, gathered: one (.., N, ..) array per state tensor."""
        return [np.take(s, slots, axis=ax) for s, ax in zip(self.states(), self.axes)]

    def put(self, slots: np.ndarray, states: Sequence[np.ndarray]) -> None:
        """``slots`` take ``states`` (as ``take`` gives them), scattered back."""
        for slab, ax, new in zip(self.states(), self.axes, states):
            slab[at(ax, slots)] = new

    def copy_first(self, old: Slabs, n: int) -> None:
        """Slots 0..n-1 take the state of ``old``'s (a pool moving into larger slabs)."""
        for dst, src, ax in zip(self.states(), old.states(write=False), self.axes):
            dst[at(ax, slice(0, n))] = src[at(ax, slice(0, n))]

    def clear(self, slot: int) -> None:
        """A fresh state in ``slot``: each state tensor's initial value."""
        for slab, ax, spec in zip(self.states(), self.axes, self.sig.states):
            slab[at(ax, slot)] = spec.init

    def move(self, src: int, dst: int) -> None:
        for slab, ax in zip(self.states(), self.axes):
            slab[at(ax, dst)] = slab[at(ax, src)]

    def slot_states(self, slot: int) -> list[np.ndarray]:
        """``slot``'s state as a one-stream state (batch axis of size 1), one array per tensor."""
        return [
            np.ascontiguousarray(np.expand_dims(s[at(ax, slot)], ax))
            for s, ax in zip(self.states(write=False), self.axes)
        ]

    def load_slot(self, slot: int, states: Sequence[np.ndarray | None]) -> None:
        """``slot`` takes a one-stream state; StateError (nothing further loaded) at the first
        tensor that is missing or of another shape."""
        for s, ax, got in zip(self.states(), self.axes, states):
            if got is None or got.shape != np.expand_dims(s[at(ax, slot)], ax).shape:
                raise StateError(
                    "snapshot state does not match this model's state shapes; take a new snapshot"
                )
            s[at(ax, slot)] = np.squeeze(got, ax)

    def first(self, n: int) -> list[np.ndarray]:
        """The state of slots 0..n-1, one contiguous array per tensor."""
        return [
            np.ascontiguousarray(s[at(ax, slice(0, n))])
            for s, ax in zip(self.states(write=False), self.axes)
        ]

    def load_first(self, n: int, states: Sequence[np.ndarray]) -> None:
        """Slots 0..n-1 take ``states`` (as ``first`` gives them)."""
        for s, ax, new in zip(self.states(), self.axes, states):
            s[at(ax, slice(0, n))] = new


def _pointer(buf: Any) -> int:
    """The address of a numpy array's data, or of an OrtValue's on its device."""
    return int(buf.ctypes.data if isinstance(buf, np.ndarray) else buf.data_ptr())


def at(axis: int, index: Any) -> tuple[Any, ...]:
    """An index tuple selecting ``index`` along ``axis`` (everything along the axes before it)."""
    return (slice(None),) * axis + (index,)
