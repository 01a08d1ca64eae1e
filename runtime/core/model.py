"""A loaded model: one ONNX Runtime session plus its signature, shared by every stream.

The model holds no stream state. ``run`` is the one place the graph is called: model units
in, model units out, states passed explicitly. Streams (``model.stream()``) keep the state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgernn.core.buffers import StepBuffers
from edgernn.core.contract import check_graph
from edgernn.core.placement import (
    GPU_PROVIDERS,
    assigned_nodes,
    assignments,
    note_fallback,
    profiled_run,
)
from edgernn.core.pool import Pool
from edgernn.core.providers import SessionConfig, create_session, no_graph_run_options
from edgernn.core.stream import Stream
from edgernn.core.window import WindowStream
from edgernn.errors import ModelError, SignatureError, UsageError
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
            raise ModelError(
                f"{str(self.path)!r} cannot be loaded by ONNX Runtime ({reason}); "
                "pass an .onnx exported by edgernn"
            ) from e
        # RunOptions for every call that is not a captured CUDA graph (gpu_graph_id=-1); None
        # unless config.cuda_graph. See providers.graph_run_options for the graph-bound calls.
        self.run_options = no_graph_run_options(self.config)
        probe = None
        try:
            self.signature = _read_signature(self.session, self.path)
            probe = {i.name: i.zeros(1) for i in self.signature.inputs} | {
                s.input: s.zeros(1) for s in self.signature.states
            }
        finally:  # a GPU session is profiling: one call shows where each node ran, then it stops
            executed = profiled_run(self.session, probe, self.run_options)
        # where each Stream keeps its state between steps: on the GPU when running on CUDA/TensorRT
        self.state_device = "cuda" if self.provider in GPU_PROVIDERS else "host"
        # {ORT provider: {op type: nodes}} as partitioned; cpu_fallback: the nodes of a GPU
        # session that run on the CPU anyway (shape arithmetic excepted; see
        # edgernn.core.placement), warned once
        self.placement = assignments(self.session)
        self.cpu_fallback, note = note_fallback(
            self.provider, executed or assigned_nodes(self.session)
        )
        self.provider_note = "; ".join(n for n in (self.provider_note, note) if n)
        self._output_names = [self.signature.output_name] + [
            s.output for s in self.signature.states
        ]
        self._state_inputs = [s.input for s in self.signature.states]

    def __repr__(self) -> str:
        s = self.signature
        return (
            f"<edgernn.Model {self.path.name} {s.task} {s.arch}{list(s.layers)} on {self.provider}>"
        )

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        """Fresh state for ``batch`` streams, one array per state tensor."""
        return [s.zeros(batch) for s in self.signature.states]

    def run(
        self, x: np.ndarray, states: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One graph call. x: (B, T, F) float32 in model units -> (y (B, T, n_targets), new
        states)."""
        feeds = {self.signature.input_name: x}
        feeds.update(zip(self._state_inputs, states))
        # no CUDA graph here
        y, *new_states = self.session.run(self._output_names, feeds, self.run_options)
        return y, new_states

    def step_buffers(self, batch: int = 1) -> StepBuffers:
        """Pre-bound buffers for fast one-step calls (what each ``Stream`` uses), on
        ``state_device``."""
        return StepBuffers(self, batch, self.state_device)

    def pool(
        self,
        capacity: int = 64,
        threshold: float | None = None,
        warmup: int = 20,
        idle_s: float | None = None,
        drift_threshold: float | None = None,
    ) -> Pool:
        """Many keyed streams in one set of state slabs: one graph call per tick (see
        ``edgernn.core.pool``)."""
        return Pool(
            self,
            capacity=capacity,
            threshold=threshold,
            warmup=warmup,
            idle_s=idle_s,
            drift_threshold=drift_threshold,
        )

    def stream(
        self,
        state: bytes | None = None,
        threshold: float | None = None,
        warmup: int = 20,
        drift_threshold: float | None = None,
    ) -> Stream:
        """A new stream with its own state (from a ``Stream.snapshot()`` blob when given);
        ``drift_threshold``: the drift test's lambda (``edgernn.core.drift``; inf turns it off)."""
        if self.signature.task != "forecast":
            raise UsageError(
                f"{self.path.name} is a {self.signature.task!r} model; model.stream() steps "
                "forecasters (use the API for that task)"
            )
        return Stream(
            self, state=state, threshold=threshold, warmup=warmup, drift_threshold=drift_threshold
        )

    def window_stream(self, window: int | None = None) -> WindowStream:
        """A window-mode stream (``edgernn.core.window``): keeps the last ``window`` rows
        (default: the signature's) and re-runs the graph over them each step; how a non-causal
        model runs live."""
        return WindowStream(self, window=window)


def load(
    path: str | Path | None = None,
    provider: str = "auto",
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    spinning: bool = False,
    cuda_graph: bool = False,
    trt_cache_dir: str | None = None,
) -> Model:
    """Load an exported model (the shipped default when ``path`` is None).

    ``provider``: "auto" (CUDA when it really runs, else CPU; ``model.provider`` says which),
    "cpu", "cuda" or "tensorrt" (errors when they cannot run; TensorRT caches its engines in
    ``trt_cache_dir``, default ~/.cache/edgernn/trt). ``cuda_graph``: CUDA graphs for
    fixed-shape steps (CUDA only). A GPU model whose graph runs partly on the CPU anyway warns
    (``edgernn.core.placement.CpuFallbackWarning``) and lists the nodes in ``model.cpu_fallback``.
    """
    return Model(
        path,
        SessionConfig(
            provider, intra_op_threads, inter_op_threads, spinning, cuda_graph, trt_cache_dir
        ),
    )


def _read_model_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ModelError(
            f"model file {str(path)!r} does not exist; pass the path of an exported .onnx "
            "(or omit it for the shipped default)"
        )
    if path.is_dir():
        raise ModelError(
            f"model path {str(path)!r} is a directory; pass the path of an exported .onnx file"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(
            f"model file {str(path)!r} cannot be read ({e.strerror}); check its permissions"
        ) from e
    if not data:
        raise ModelError(
            f"model file {str(path)!r} is empty (0 bytes); pass an .onnx exported by edgernn"
        )
    return data


def _read_signature(session: ort.InferenceSession, path: Path) -> Signature:
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise SignatureError(
            f"{str(path)!r} has no {METADATA_KEY} metadata, so edgernn does not know how to "
            "run it; export it with `edgernn export`"
        )
    try:
        sig = Signature.from_json(meta[METADATA_KEY])
    except SignatureError as e:
        raise SignatureError(f"{str(path)!r}: {e}") from e
    if sig.task not in TASKS:
        raise SignatureError(
            f"{str(path)!r} is a {sig.task!r} model, which this edgernn cannot run "
            f"(it runs {', '.join(TASKS)}); upgrade edgernn"
        )
    try:
        check_graph(sig, session)
    except SignatureError as e:
        raise SignatureError(f"{str(path)!r}: {e}") from e
    return sig
