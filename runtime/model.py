"""A loaded model: one ONNX Runtime session plus its signature, shared by every stream.

The model holds no stream state. ``run`` is the one place the graph is called: model units
in, model units out, states passed explicitly. Streams (``model.stream()``) keep the state.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort

from edgernn.errors import ModelError, SignatureError, UsageError
from edgernn.placement import GPU_PROVIDERS, assigned_nodes, assignments, note_fallback, profiled_run
from edgernn.providers import SessionConfig, create_session, no_graph_run_options
from edgernn.signature import METADATA_KEY, TASKS, Signature

DEFAULT_MODEL = "sensor-forecast.onnx"


def default_model_path() -> Path:
    """The shipped default model, ``exported/sensor-forecast.onnx``, wherever it was installed."""
    return Path(str(resources.files("edgernn.exported") / DEFAULT_MODEL))


class Model:
    """A session and its signature. Thread-safe to share: ``run`` keeps no state of its own."""

    def __init__(self, path: str | Path | None = None, config: SessionConfig | None = None):
        self.path = Path(path) if path is not None else default_model_path()
        self.config = config or SessionConfig()
        data = _read_model_bytes(self.path)
        self.model_id = hashlib.sha256(data).hexdigest()[:16]  # binds snapshots to this exact graph
        try:
            self.session, self.provider, self.provider_note = create_session(data, self.config)
        except Exception as e:
            if type(e).__module__.startswith("edgernn"):
                raise
            reason = str(e).splitlines()[0][:200]
            raise ModelError(f"{str(self.path)!r} cannot be loaded by ONNX Runtime ({reason}); pass an .onnx exported by edgernn") from e
        # RunOptions for every call that is not a captured CUDA graph (gpu_graph_id=-1); None
        # unless config.cuda_graph. See providers.graph_run_options for the graph-bound calls.
        self.run_options = no_graph_run_options(self.config)
        probe = None
        try:
            self.signature = _read_signature(self.session, self.path)
            probe = {i.name: i.zeros(1) for i in self.signature.inputs} | {s.input: s.zeros(1) for s in self.signature.states}
        finally:  # a GPU session is profiling: one call shows where each node ran, then it stops
            executed = profiled_run(self.session, probe, self.run_options)
        # where each Stream keeps its state between steps: on the GPU when running on CUDA/TensorRT
        self.state_device = "cuda" if self.provider in GPU_PROVIDERS else "host"
        # {ORT provider: {op type: nodes}} as partitioned; cpu_fallback: the nodes of a GPU session
        # that run on the CPU anyway (shape arithmetic excepted; see edgernn.placement), warned once
        self.placement = assignments(self.session)
        self.cpu_fallback, note = note_fallback(self.provider, executed or assigned_nodes(self.session))
        self.provider_note = "; ".join(n for n in (self.provider_note, note) if n)
        self._output_names = [self.signature.output_name] + [s.output for s in self.signature.states]
        self._state_inputs = [s.input for s in self.signature.states]

    def __repr__(self) -> str:
        s = self.signature
        return f"<edgernn.Model {self.path.name} {s.task} {s.arch}{list(s.layers)} on {self.provider}>"

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        """Fresh state for ``batch`` streams, one array per state tensor."""
        return [s.zeros(batch) for s in self.signature.states]

    def run(self, x: np.ndarray, states: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One graph call. x: (B, T, F) float32 in model units -> (y (B, T, n_targets), new states)."""
        feeds = {self.signature.input_name: x}
        feeds.update(zip(self._state_inputs, states))
        y, *new_states = self.session.run(self._output_names, feeds, self.run_options)  # no CUDA graph here
        return y, new_states

    def step_buffers(self, batch: int = 1) -> "StepBuffers":
        """Pre-bound buffers for fast one-step calls (what each ``Stream`` uses), on ``state_device``."""
        return StepBuffers(self, batch, self.state_device)

    def pool(self, capacity: int = 64, threshold: float | None = None, warmup: int = 20, idle_s: float | None = None):
        """Many keyed streams in one set of state slabs: one graph call per tick (see ``edgernn.pool``)."""
        from edgernn.pool import Pool

        return Pool(self, capacity=capacity, threshold=threshold, warmup=warmup, idle_s=idle_s)

    def stream(self, state: bytes | None = None, threshold: float | None = None, warmup: int = 20):
        """A new stream with its own state (from a ``Stream.snapshot()`` blob when given)."""
        if self.signature.task != "forecast":
            raise UsageError(f"{self.path.name} is a {self.signature.task!r} model; model.stream() steps "
                             "forecasters (use the API for that task)")
        from edgernn.stream import Stream

        return Stream(self, state=state, threshold=threshold, warmup=warmup)

    def window_stream(self, window: int | None = None):
        """A window-mode stream (``edgernn.window``): keeps the last ``window`` rows (default: the
        signature's) and re-runs the graph over them each step; how a non-causal model runs live."""
        from edgernn.window import WindowStream

        return WindowStream(self, window=window)


class StepBuffers:
    """One-step calls without per-call allocation: x, y and two state sets bound once.

    Binding ``k`` reads states from set ``k`` and writes set ``1 - k``; each call flips
    ``current``, so the new state is where the next call reads it and nothing is copied.
    On ``device="host"`` the state sets are numpy arrays bound zero-copy; on an ONNX Runtime
    device ("cuda"; "cpu" runs the same code path on the CPU) they are OrtValues allocated
    there, so the state never makes a host round trip between steps (only x and y travel).
    ``x_mem`` and ``y_mem`` are flat float memoryviews of ``x`` and ``y``: a hot loop writes a
    step's input and reads its output through them (item stores, ``tolist``) without numpy.
    """

    def __init__(self, model: Model, batch: int = 1, device: str = "host"):
        sig = model.signature
        self.session, self.device = model.session, device
        self.x = sig.inputs[0].zeros(batch)  # one step of the main input, e.g. (B, 1, F) model units
        self.y = sig.outputs[0].zeros(batch)  # one step of the main output, e.g. (B, 1, n_targets)
        self.x_mem, self.y_mem = self.flat(self.x), self.flat(self.y)
        # with CUDA graphs each binding replays its own captured graph: two graph ids, else None
        from edgernn.providers import graph_run_options

        self.run_options = graph_run_options(model.config) if device == "cuda" else None
        self._io = None  # (x, y) on the device when a CUDA graph replays: it reads fixed device addresses
        if self.run_options is not None:
            self._io = tuple(self.device_copy(a, device) for a in (self.x, self.y))
            self.run = self._run_graph  # type: ignore[method-assign]
        self.sets = (self._new_set(model, batch), self._new_set(model, batch))
        self.bindings = tuple(self._bind(sig, self.sets[k], self.sets[1 - k]) for k in (0, 1))
        self._calls = tuple(self.run_call(self.session, b, None if self.run_options is None else self.run_options[k])
                            for k, b in enumerate(self.bindings))  # binding k, ready to call
        self.current = 0

    def _new_set(self, model: Model, batch: int) -> list:
        host = model.initial_state(batch)
        if self.device == "host":
            return host
        return [self.device_copy(h, self.device) for h in host]

    def _value(self, a):
        return a if isinstance(a, ort.OrtValue) else ort.OrtValue.ortvalue_from_numpy(a)

    @staticmethod
    def device_copy(a: np.ndarray, device: str) -> ort.OrtValue:
        """A copy of ``a`` allocated by ONNX Runtime on ``device`` ("cuda", or "cpu" in tests)."""
        v = ort.OrtValue.ortvalue_from_shape_and_type(a.shape, a.dtype, device, 0)
        v.update_inplace(a)
        return v

    def _bind(self, sig, states_in: list, states_out: list):
        b = self.session.io_binding()
        x, y = self._io if self._io is not None else (self._value(self.x), self._value(self.y))
        b.bind_ortvalue_input(sig.input_name, x)
        b.bind_ortvalue_output(sig.output_name, y)
        for spec, s_in, s_out in zip(sig.states, states_in, states_out):
            b.bind_ortvalue_input(spec.input, self._value(s_in))
            b.bind_ortvalue_output(spec.output, self._value(s_out))
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
        """``run`` under CUDA graphs: x goes up into, and y comes down from, the fixed device buffers."""
        x, y = self._io
        x.update_inplace(self.x)
        self._calls[self.current]()
        self.current ^= 1
        np.copyto(self.y, y.numpy())
        return self.y

    @staticmethod
    def flat(a: np.ndarray) -> memoryview:
        """A flat, typed, writable memoryview of a C-contiguous array (reads and writes reach ``a``)."""
        return memoryview(a).cast("B").cast(a.dtype.char)

    @staticmethod
    def run_call(session: ort.InferenceSession, binding: ort.IOBinding,
                 run_options: ort.RunOptions | None = None) -> "functools.partial[None]":
        """A call that runs ``binding``: ``session.run_with_iobinding(binding, run_options)``, or
        its compiled core when this onnxruntime has one where 1.31 does. The wrapper only adds
        checks for WebGPU graph capture, ~0.4 us a call here. Run options only when needed (CUDA
        graph ids): with them a call costs ~30 us more (onnxruntime 1.31 queries a run-config
        entry every call)."""
        core, raw = getattr(session, "_sess", None), getattr(binding, "_iobinding", None)
        if core is not None and raw is not None and hasattr(core, "run_with_iobinding"):
            return functools.partial(core.run_with_iobinding, raw, run_options)
        return functools.partial(session.run_with_iobinding, binding, run_options)


def load(path: str | Path | None = None, provider: str = "auto", intra_op_threads: int = 1,
         inter_op_threads: int = 1, spinning: bool = False, cuda_graph: bool = False,
         trt_cache_dir: str | None = None) -> Model:
    """Load an exported model (the shipped default when ``path`` is None).

    ``provider``: "auto" (CUDA when it really runs, else CPU; ``model.provider`` says which),
    "cpu", "cuda" or "tensorrt" (errors when they cannot run; TensorRT caches its engines in
    ``trt_cache_dir``, default ~/.cache/edgernn/trt). ``cuda_graph``: CUDA graphs for
    fixed-shape steps (CUDA only). A GPU model whose graph runs partly on the CPU anyway warns
    (``edgernn.placement.CpuFallbackWarning``) and lists the nodes in ``model.cpu_fallback``.
    """
    return Model(path, SessionConfig(provider, intra_op_threads, inter_op_threads, spinning, cuda_graph, trt_cache_dir))


def _read_model_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist; pass the path of an exported .onnx (or omit it for the shipped default)")
    if path.is_dir():
        raise ModelError(f"model path {str(path)!r} is a directory; pass the path of an exported .onnx file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelError(f"model file {str(path)!r} cannot be read ({e.strerror}); check its permissions") from e


def _read_signature(session, path: Path) -> Signature:
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise SignatureError(
            f"{str(path)!r} has no {METADATA_KEY} metadata, so edgernn does not know how to run it; "
            "export it with `edgernn export`"
        )
    try:
        sig = Signature.from_json(meta[METADATA_KEY])
    except SignatureError as e:
        raise SignatureError(f"{str(path)!r}: {e}") from e
    if sig.task not in TASKS:
        raise SignatureError(f"{str(path)!r} is a {sig.task!r} model, which this edgernn cannot run "
                             f"(it runs {', '.join(TASKS)}); upgrade edgernn")
    graph_inputs = {i.name for i in session.get_inputs()}
    graph_outputs = {o.name for o in session.get_outputs()}
    wanted_in = {sig.input_name, *(s.input for s in sig.states)}
    wanted_out = {sig.output_name, *(s.output for s in sig.states)}
    missing = sorted((wanted_in - graph_inputs) | (wanted_out - graph_outputs))
    if missing:
        raise SignatureError(f"{str(path)!r}: its signature names tensors the graph lacks ({', '.join(missing)}); re-export the model")
    return sig
