"""Execution providers and low-latency session options.

``auto`` takes CUDA only when it really works (a driver is present and a session really
runs on it) and otherwise the CPU; ``cuda`` and ``tensorrt`` are errors when they cannot run,
never a silent fallback (ORT's own Python fallback, which prints to stdout and retries on the
CPU, is switched off). ONNX Runtime's threads spin by default and starve the rest of a
streaming process, so spinning is off and intra-op threads are few unless asked otherwise.

Opt-ins: ``tensorrt`` (TensorRT, then CUDA, then CPU for what neither takes; engines cached on
disk because building one takes seconds to minutes) and ``cuda_graph`` (CUDA graphs: a step
replays one captured launch instead of a kernel launch per node; see ``graph_run_options``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import itertools
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edgernn.core.placement import assignments, profiled_run
from edgernn.errors import ProviderError, UsageError

PROVIDERS = ("auto", "cpu", "cuda", "tensorrt")
_ORT_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# what onnxruntime-gpu 1.31's TensorRT provider links against
# (ldd libonnxruntime_providers_tensorrt.so)
_TRT_LIBS = ("libnvinfer.so.10", "libnvonnxparser.so.10")
# ORT run-config key: which captured CUDA graph a run uses (-1: none, 0: ORT's default)
GRAPH_ID = "gpu_graph_id"
# unique per process, so two StepBuffers never share a captured graph
_graph_ids = itertools.count(1)
_profiles = itertools.count()


@dataclass(frozen=True)
class SessionConfig:
    provider: str = "auto"  # "auto" | "cpu" | "cuda" | "tensorrt"
    intra_op_threads: int = 1  # threads inside one operator; 1 is best for one small stream
    inter_op_threads: int = 1  # threads across independent operators
    spinning: bool = False  # let idle ORT threads spin (lower latency, burns a core)
    cuda_graph: bool = False  # CUDA EP enable_cuda_graph: fixed-shape calls replay a captured graph
    trt_cache_dir: str | None = None  # TensorRT engine/timing cache (default: ~/.cache/edgernn/trt)

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise UsageError(
                f"unknown provider {self.provider!r}; choose one of {', '.join(PROVIDERS)}"
            )
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise UsageError("thread counts must be >= 0 (0 lets ONNX Runtime choose)")
        if self.cuda_graph and self.provider in ("cpu", "tensorrt"):
            raise UsageError(
                "--cuda-graph needs --provider cuda (or auto on a CUDA machine), "
                f"not {self.provider!r}; drop --cuda-graph"
                + (
                    " (TensorRT's own graph capture is not wired in edgernn)"
                    if self.provider == "tensorrt"
                    else ""
                )
            )


def session_options(config: SessionConfig, profile: bool = False) -> ort.SessionOptions:
    """Options for every edgernn session. ``profile`` turns ORT profiling on, for the one
    probe call that reads node placement (``edgernn.core.placement.profiled_run`` ends it)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = config.intra_op_threads
    so.inter_op_num_threads = config.inter_op_threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    spin = "1" if config.spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    # placement, for free
    so.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    # No CPU arena: a stream's step allocates only the graph's small temporaries, which plain
    # malloc serves faster than the arena's bookkeeping (one graph call 11.5 -> 10.3 us, LSTM
    # 2x64, ORT 1.31)
    so.enable_cpu_mem_arena = False
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(
            tempfile.gettempdir(), f"edgernn-placement-{os.getpid()}-{next(_profiles)}"
        )
    so.log_severity_level = 3  # errors only
    return so


def cuda_missing() -> str | None:
    """Why CUDA cannot run here, or None when it may (a session still has to prove it)."""
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (
            f"this onnxruntime ({ort.__version__}) has no CUDA provider; "
            "pip install onnxruntime-gpu"
        )
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libcuda.so.1")
        except OSError:
            return "no NVIDIA driver found (libcuda.so.1 cannot be loaded)"
    return None


def tensorrt_missing() -> str | None:
    """Why TensorRT cannot run here (everything missing, in one line), or None when it may.

    onnxruntime-gpu lists TensorrtExecutionProvider whether or not TensorRT is installed, so
    its libraries are loaded here: from the system, else from the ``tensorrt-cuXX`` wheel's
    ``tensorrt_libs`` folder (loaded globally so ORT's provider library finds them).
    """
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        return (
            f"this onnxruntime ({ort.__version__}) has no TensorRT provider; "
            "pip install onnxruntime-gpu"
        )
    missing = [why for why in (cuda_missing(), _tensorrt_libs_missing()) if why]
    return " and ".join(missing) or None


def _tensorrt_libs_missing() -> str | None:
    if not sys.platform.startswith("linux"):
        return None  # elsewhere the session attempt reports it
    spec = importlib.util.find_spec("tensorrt_libs")  # finds the pip wheel without importing it
    wheel = (
        Path(spec.submodule_search_locations[0])
        if spec and spec.submodule_search_locations
        else None
    )
    for name in _TRT_LIBS:
        for candidate in [name] + (
            [str(wheel / name)] if wheel and (wheel / name).exists() else []
        ):
            try:
                ctypes.CDLL(candidate, mode=ctypes.RTLD_GLOBAL)
                break
            except OSError:
                continue
        else:
            cuda = (
                getattr(getattr(ort.capi, "build_and_package_info", None), "cuda_version", "")
                or "13"
            )
            return (
                f"TensorRT 10 is not installed ({name} cannot be loaded; "
                f"pip install tensorrt-cu{cuda.split('.')[0]} "
                "or put TensorRT's lib folder on LD_LIBRARY_PATH)"
            )
    return None


def trt_cache_dir(config: SessionConfig) -> Path:
    """Where TensorRT engines are cached: ``config.trt_cache_dir`` or
    $XDG_CACHE_HOME/edgernn/trt."""
    if config.trt_cache_dir:
        return Path(config.trt_cache_dir).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgernn" / "trt"


def provider_list(config: SessionConfig, kind: str) -> list[str | tuple[str, dict[str, str]]]:
    """The ORT providers (with options) for ``kind``: "cpu", "cuda" or "tensorrt"."""
    cpu = _ORT_NAMES["cpu"]
    if kind == "cpu":
        return [cpu]
    # TF32 off: ORT's CUDA provider defaults to rounding float32 matmul inputs to TF32's 10-bit
    # mantissa on Ampere and newer; edgernn holds exports to 1e-5, so float32 means float32 here.
    cuda_opts = {"use_tf32": "0"} | ({"enable_cuda_graph": "1"} if config.cuda_graph else {})
    cuda = (_ORT_NAMES["cuda"], cuda_opts)
    if kind == "cuda":
        return [cuda, cpu]
    cache = str(trt_cache_dir(config))
    trt = {
        "trt_fp16_enable": "0",  # float32 like every other provider; fp16 is an export choice
        "trt_engine_cache_enable": "1",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "1",
        "trt_timing_cache_path": cache,
    }
    return [(_ORT_NAMES["tensorrt"], trt), cuda, cpu]


def _open(model: bytes | str, config: SessionConfig, kind: str) -> ort.InferenceSession:
    """A session for ``kind`` with ORT's silent Python fallback off. GPU kinds profile their
    first call (``edgernn.core.placement``); ORT errors propagate as they are."""
    if kind == "tensorrt":
        trt_cache_dir(config).mkdir(parents=True, exist_ok=True)
    so = session_options(config, profile=kind != "cpu")
    return ort.InferenceSession(model, so, providers=provider_list(config, kind), enable_fallback=0)


def _first_line(e: BaseException) -> str:
    """ORT's message without its source location, signature and status prefix."""
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    line = re.sub(r"^\S+\.(?:cc|cpp|h):\d+ (?:[^()]*\([^()]*\)(?: const)? )?", "", line)
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", line)[:240]


def open_gpu(
    model: bytes | str, config: SessionConfig, kind: str
) -> tuple[ort.InferenceSession, str]:
    """A session that really runs on ``kind`` ("cuda" or "tensorrt") and a note, else ProviderError.

    No pre-checks here (``create_session`` makes them first, to spare the user ORT's loader
    errors): this is the session attempt itself, with its failure turned into one line.
    """
    sess, text = _try_gpu(model, config, kind)
    if sess is None:
        raise ProviderError(
            f"provider {kind!r} cannot run here: {text}; use --provider {_ALTERNATIVE[kind]}"
        )
    return sess, text


_ALTERNATIVE = {"cuda": "cpu or auto", "tensorrt": "cuda or cpu"}


def _try_gpu(
    model: bytes | str, config: SessionConfig, kind: str
) -> tuple[ort.InferenceSession | None, str]:
    """(session, note) when ``kind`` really runs, else (None, why not).

    "Really" is checked, not assumed: ORT carries on when a provider library cannot load (it
    registers only the CPU) and when a provider takes no node of the graph, so both the
    registered providers and the partitioner's assignments are read back. A model that
    cannot be captured as a CUDA graph is a ProviderError at once: no fallback hides it.
    """
    ort_name, label = _ORT_NAMES[kind], {"cuda": "CUDA", "tensorrt": "TensorRT"}[kind]
    try:
        sess = _open(model, config, kind)
    except Exception as e:  # ORT raises RuntimeError subclasses with the loader's reason
        reason = _first_line(e)
        if config.cuda_graph and re.search(r"graph capture|cuda graph", reason, re.IGNORECASE):
            raise ProviderError(
                f"--cuda-graph cannot capture this model: {reason}; drop --cuda-graph"
            ) from e
        return None, f"{label} session failed: {reason}"
    placed = assignments(sess)
    on_it = sum(placed.get(ort_name, {}).values())
    total = sum(sum(ops.values()) for ops in placed.values())
    why = ""
    if sess.get_providers()[0] != ort_name:
        libs = "TensorRT 10, CUDA or cuDNN 9" if kind == "tensorrt" else "CUDA 12/13 or cuDNN 9"
        why = f"the {label} provider could not start ({libs} libraries missing?)"
    elif placed and not on_it:
        went = ", ".join(sorted(placed))
        why = f"{label} took none of this graph's {total} nodes (all went to {went})"
    if why:
        profiled_run(sess, None)  # end its profiling now: a dropped session would write the trace
        return None, why
    note = (
        f"TensorRT runs {on_it} of {total} nodes, the rest CUDA/CPU"
        if kind == "tensorrt" and on_it < total
        else ""
    )
    return sess, note


def create_session(
    model: bytes | str, config: SessionConfig
) -> tuple[ort.InferenceSession, str, str]:
    """An InferenceSession on the provider ``config`` asks for, the one it got, and why.

    The third value is a short note for the user: "" when the choice needs no comment, or
    why ``auto`` did not take CUDA (or how much of the graph TensorRT took).
    """
    if config.provider == "cpu":
        return _open(model, config, "cpu"), "cpu", ""
    kind = "tensorrt" if config.provider == "tensorrt" else "cuda"
    why = tensorrt_missing() if kind == "tensorrt" else cuda_missing()
    if why is None:
        sess, text = _try_gpu(model, config, kind)
        if sess is not None:
            return sess, kind, text
        why = text
    if config.provider != "auto":
        raise ProviderError(
            f"provider {kind!r} cannot run here: {why}; use --provider {_ALTERNATIVE[kind]}"
        )
    if config.cuda_graph:
        raise ProviderError(
            f"--cuda-graph needs CUDA, and provider 'auto' landed on the CPU ({why}); "
            "drop --cuda-graph"
        )
    return _open(model, config, "cpu"), "cpu", f"cuda not used: {why}"


def graph_run_options(config: SessionConfig) -> tuple[ort.RunOptions, ort.RunOptions] | None:
    """Two RunOptions for the two alternating bindings of one ``StepBuffers``, or None.

    With ``cuda_graph`` ORT captures one CUDA graph per ``gpu_graph_id`` (after a couple of
    ordinary warm-up runs of that id) and from then on *replays* it: the very device
    addresses bound at capture are read and written, feeds are not copied. Each binding of a
    StepBuffers has its own fixed buffers, so each needs its own id, and ids must be unique
    across every StepBuffers of the session (a shared id would replay another stream's
    buffers). Ids come from a process-wide counter starting at 1 (0 is ORT's default id,
    -1 means "no graph"). None when ``config.cuda_graph`` is off: plain runs, no options.
    """
    if not config.cuda_graph:
        return None
    pair = []
    for _ in range(2):
        ro = ort.RunOptions()
        ro.add_run_config_entry(GRAPH_ID, str(next(_graph_ids)))
        pair.append(ro)
    return pair[0], pair[1]


def no_graph_run_options(config: SessionConfig) -> ort.RunOptions | None:
    """RunOptions for every call that must not use a CUDA graph (``gpu_graph_id=-1``), or None.

    With ``cuda_graph`` on, a call without run options uses ORT's default id 0 and would be
    captured and then replayed with stale buffers and shapes: ``Model.run`` (chunks, pool
    gather ticks), the pool's dense binding and the placement probe must pass these.
    """
    if not config.cuda_graph:
        return None
    ro = ort.RunOptions()
    ro.add_run_config_entry(GRAPH_ID, "-1")
    return ro
