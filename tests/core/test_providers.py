"""Provider choice: auto says what it took; cuda and tensorrt never fall back silently.

Everything here runs on any machine with the real onnxruntime (no mocks). The error paths
that need a machine *without* CUDA or TensorRT skip where those can run; the GPU side is in
test_cuda.py.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

import onnxruntime as ort
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

import edgernn
from edgernn.cli import main
from edgernn.core.placement import (
    CpuFallbackWarning,
    NodeRun,
    assigned_nodes,
    cpu_fallback,
    fallback_message,
    is_shape_arithmetic,
    note_fallback,
    profiled_run,
)
from edgernn.core.providers import (
    PROVIDERS,
    SessionConfig,
    cuda_missing,
    graph_run_options,
    no_graph_run_options,
    open_gpu,
    provider_list,
    session_options,
    tensorrt_missing,
)
from edgernn.errors import ProviderError, UsageError

DATA = Path(__file__).parent.parent / "data"
# its graph computes h0's shape: Shape -> Gather -> Unsqueeze -> Concat
BILSTM = DATA / "tiny-bilstm.onnx"


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


TRT_WHEEL = importlib.util.find_spec("tensorrt_libs") is not None
NO_LIBNVINFER = not _loadable("libnvinfer.so.10") and not TRT_WHEEL


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# ---- choosing a provider ---------------------------------------------------------------------
def test_auto_reports_its_choice():
    m = edgernn.load(provider="auto")
    assert m.provider in ("cpu", "cuda")
    if m.provider == "cpu":
        assert m.provider_note.startswith("cuda not used: ")


def test_cpu_is_cpu():
    assert edgernn.load(provider="cpu").session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.skipif(cuda_missing() is None, reason="CUDA may run on this machine")
def test_cuda_without_cuda_is_an_error():
    with pytest.raises(ProviderError, match="provider 'cuda' cannot run here"):
        edgernn.load(provider="cuda")


@pytest.mark.skipif(cuda_missing() is None, reason="CUDA may run on this machine")
def test_a_cuda_session_attempt_that_lands_on_the_cpu_is_an_error():
    """Past the pre-checks: ORT itself, asked for CUDA where its libraries cannot load, quietly
    registers only the CPU. open_gpu reads that back and refuses, in one line."""
    with pytest.raises(ProviderError) as e:
        open_gpu(edgernn.default_model_path().read_bytes(), SessionConfig("cuda"), "cuda")
    assert str(e.value).startswith("provider 'cuda' cannot run here: ") and "\n" not in str(e.value)


def test_unknown_provider_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown provider 'tpu'"):
        edgernn.load(provider="tpu")


def test_session_options_turn_spinning_off_and_record_placement():
    m = edgernn.load(provider="cpu")
    opts = m.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.get_session_config_entry("session.record_ep_graph_assignment_info") == "1"
    assert opts.intra_op_num_threads == 1
    assert not opts.enable_profiling  # only GPU sessions profile, and only their first call


# ---- TensorRT --------------------------------------------------------------------------------
def test_tensorrt_is_an_opt_in_provider_with_a_cache_and_no_fp16():
    assert "tensorrt" in PROVIDERS
    config = SessionConfig("tensorrt", trt_cache_dir="/tmp/trt-cache")
    (trt, trt_opts), (cuda, _), cpu = provider_list(config, "tensorrt")
    assert (trt, cuda, cpu) == (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    assert trt_opts["trt_fp16_enable"] == "0"
    assert (
        trt_opts["trt_engine_cache_enable"] == "1"
        and trt_opts["trt_engine_cache_path"] == "/tmp/trt-cache"
    )
    assert provider_list(SessionConfig("tensorrt"), "tensorrt")[0][1][
        "trt_engine_cache_path"
    ].endswith(os.path.join("edgernn", "trt"))


def test_onnxruntime_gpu_lists_tensorrt_whether_or_not_it_can_run():
    """Why availability is checked by loading TensorRT's libraries, not from the provider list."""
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        assert "pip install onnxruntime-gpu" in tensorrt_missing()
    elif NO_LIBNVINFER:
        assert tensorrt_missing() is not None


@pytest.mark.skipif(
    not NO_LIBNVINFER or "TensorrtExecutionProvider" not in ort.get_available_providers(),
    reason="TensorRT's libnvinfer is installed here (or onnxruntime has no TensorRT provider)",
)
def test_tensorrt_missing_names_libnvinfer_and_the_fix():
    why = tensorrt_missing()
    assert "libnvinfer.so.10 cannot be loaded" in why and "pip install tensorrt-cu" in why


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT may run on this machine")
def test_tensorrt_without_tensorrt_is_one_line_naming_what_is_missing():
    with pytest.raises(ProviderError) as e:
        edgernn.load(provider="tensorrt")
    msg = str(e.value)
    assert msg.startswith("provider 'tensorrt' cannot run here: ") and "\n" not in msg
    assert tensorrt_missing() in msg and msg.endswith("use --provider cuda or cpu")


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT may run on this machine")
def test_a_tensorrt_session_attempt_without_tensorrt_fails_in_one_line():
    """Past the pre-checks, the real ORT call: without TensorRT (or CUDA) libraries onnxruntime
    raises while registering TensorRT's plugins, or registers the CPU only. With ORT's own
    fallback off, either way is a ProviderError, never a CPU session."""
    with pytest.raises(ProviderError) as e:
        open_gpu(edgernn.default_model_path().read_bytes(), SessionConfig("tensorrt"), "tensorrt")
    msg = str(e.value)
    assert msg.startswith("provider 'tensorrt' cannot run here: ") and "\n" not in msg
    assert "TensorRT" in msg and ".cc:" not in msg  # ORT's source location is stripped


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT may run on this machine")
def test_cli_tensorrt_without_it_is_exit_code_4():
    one_clear_line(run("stream", "--provider", "tensorrt", "--source", "demo"), 4, "tensorrt")


# ---- CUDA graphs -----------------------------------------------------------------------------
@pytest.mark.parametrize("provider", ["cpu", "tensorrt"])
def test_cuda_graph_needs_cuda(provider):
    with pytest.raises(UsageError, match="--cuda-graph needs --provider cuda"):
        edgernn.load(provider=provider, cuda_graph=True)


@pytest.mark.skipif(cuda_missing() is None, reason="CUDA may run on this machine")
def test_cuda_graph_with_auto_on_the_cpu_says_where_auto_landed():
    with pytest.raises(ProviderError, match=r"landed on the CPU \(.+\); drop --cuda-graph"):
        edgernn.load(provider="auto", cuda_graph=True)


def test_cli_cuda_graph_on_the_cpu_is_a_usage_error():
    one_clear_line(
        run("stream", "--provider", "cpu", "--cuda-graph", "--source", "demo"), 2, "--cuda-graph"
    )


def test_cuda_graph_turns_on_the_cuda_option():
    assert provider_list(SessionConfig("cuda", cuda_graph=True), "cuda")[0] == (
        "CUDAExecutionProvider",
        {"use_tf32": "0", "enable_cuda_graph": "1"},
    )
    assert provider_list(SessionConfig("cuda"), "cuda") == [
        ("CUDAExecutionProvider", {"use_tf32": "0"}),
        "CPUExecutionProvider",
    ]


def test_graph_run_options_give_each_binding_its_own_graph_id():
    assert (
        graph_run_options(SessionConfig("cuda")) is None
        and no_graph_run_options(SessionConfig("cuda")) is None
    )
    config = SessionConfig("cuda", cuda_graph=True)
    ids = [
        int(ro.get_run_config_entry("gpu_graph_id"))
        for _ in range(3)
        for ro in graph_run_options(config)
    ]
    assert len(set(ids)) == 6 and min(ids) >= 1  # 0 is ORT's default graph, -1 is "no graph"
    assert no_graph_run_options(config).get_run_config_entry("gpu_graph_id") == "-1"


# ---- where nodes run -------------------------------------------------------------------------
def test_placement_of_a_real_cpu_session():
    m = edgernn.load(provider="cpu")
    nodes = assigned_nodes(m.session)
    assert nodes and {n.provider for n in nodes} == {"CPUExecutionProvider"}
    assert m.placement == {
        "CPUExecutionProvider": {"Transpose": 2, "LSTM": 2, "Squeeze": 2, "MatMul": 1, "Add": 1}
    }
    assert m.cpu_fallback == [] and m.state_device == "host" and m.run_options is None


def test_the_cpu_provider_never_warns_about_fallback():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CpuFallbackWarning)
        edgernn.load(BILSTM, provider="cpu")


def _profiled_bilstm() -> list[NodeRun]:
    so = session_options(SessionConfig("cpu"), profile=True)
    session = ort.InferenceSession(str(BILSTM), so, providers=["CPUExecutionProvider"])
    sig = edgernn.load(BILSTM, provider="cpu").signature
    before = set(os.listdir(tempfile.gettempdir()))
    nodes = profiled_run(session, {sig.input_name: sig.inputs[0].zeros(1)})
    assert set(os.listdir(tempfile.gettempdir())) <= before  # the trace file is gone
    assert profiled_run(session, {sig.input_name: sig.inputs[0].zeros(1)}) == []  # profiling ended
    return nodes


def test_a_profiled_call_reports_every_node_with_its_provider_and_types():
    nodes = _profiled_bilstm()
    assert {n.provider for n in nodes} == {"CPUExecutionProvider"}
    lstm = next(n for n in nodes if n.op_type == "LSTM")
    assert lstm.dtypes and set(lstm.dtypes) == {"float"}
    shape = next(n for n in nodes if n.op_type == "Shape")
    assert shape.dtypes == ("float", "int64")


def test_shape_arithmetic_is_not_a_fallback_but_model_data_is():
    """The bilstm's real placement, read as if CUDA had been asked for: its int64 shape chain
    (what ORT keeps on the CPU on purpose) is excused; every node touching float data counts."""
    nodes = _profiled_bilstm()
    fallback = cpu_fallback("cuda", nodes)
    excused = sorted({n.op_type for n in nodes if n not in fallback})
    assert excused == ["Concat", "Gather", "Shape", "Unsqueeze"]
    # float Concat counts
    assert {"LSTM", "MatMul", "ConstantOfShape", "Concat"} <= {n.op_type for n in fallback}
    assert all(is_shape_arithmetic(n) for n in nodes if n.op_type in ("Shape", "Unsqueeze"))
    assert cpu_fallback("cpu", nodes) == []


def test_the_fallback_rule_is_a_pure_function_of_provider_and_placement():
    cpu, cuda = "CPUExecutionProvider", "CUDAExecutionProvider"
    nodes = [
        NodeRun("s", "Shape", cpu, ("float", "int64")),  # reads metadata only
        NodeRun("g", "Gather", cpu, ("int64", "int64", "int64")),  # a dimension of a shape
        NodeRun("e", "Gather", cpu, ("float", "int64", "float")),  # an embedding lookup: data
        NodeRun("q", "DynamicQuantizeLSTM", cpu, None),  # types unknown: counted, not excused
        NodeRun("m", "MemcpyToHost", cuda, ("float", "float")),  # data leaves the device
        NodeRun("l", "LSTM", cuda, ("float", "float")),
    ]
    assert [n.name for n in cpu_fallback("cuda", nodes)] == ["e", "q", "m"]
    assert [n.name for n in cpu_fallback("tensorrt", nodes)] == ["e", "q", "m"]
    assert cpu_fallback("cpu", nodes) == [] and cpu_fallback("cuda", nodes[-1:]) == []
    msg = fallback_message("cuda", cpu_fallback("cuda", nodes), total=5)
    assert (
        "\n" not in msg and "2 of 5 graph nodes run on the CPU (DynamicQuantizeLSTM, Gather)" in msg
    )
    assert "and 1 host/device copy inside the graph" in msg and msg.endswith(
        "or use --provider cpu"
    )
    with pytest.warns(CpuFallbackWarning, match="provider 'cuda'"):
        described, note = note_fallback("cuda", nodes)
    assert described == ["Gather (e)", "DynamicQuantizeLSTM (q)", "MemcpyToHost (m)"]
    assert note == "CPU fallback: DynamicQuantizeLSTM, Gather, 1 host/device copy"


def test_inspect_shows_the_provider_and_placement():
    r = run("inspect", "--provider", "cpu")
    assert r.exit_code == 0, r.output
    assert "placement    CPU: Transpose x2, LSTM x2, Squeeze x2, MatMul, Add" in r.stdout
    r = run("inspect", "--json")
    import json

    placement = json.loads(r.stdout)["placement"]
    assert placement["provider"] == "cpu" and placement["cpu_fallback"] == []
    assert placement["nodes"]["CPUExecutionProvider"]["LSTM"] == 2


def test_every_provider_choosing_command_offers_tensorrt_and_cuda_graphs():
    for cmd in ("stream", "bench", "verify", "inspect"):
        assert "tensorrt" in run(cmd, "--help").stdout, cmd
    for cmd in ("stream", "bench"):
        assert "--cuda-graph" in run(cmd, "--help").stdout, cmd
