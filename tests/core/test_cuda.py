"""On a GPU: the CUDA (and TensorRT) providers give the CPU's numbers, keep stream state on the
device, and run the shipped graphs without a silent CPU fallback.

Skipped, with the reason, wherever CUDA cannot run (no driver, no CUDA/cuDNN libraries, a
CPU-only onnxruntime). The CPU-side halves of these paths are in test_providers.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import edgernn
from edgernn.cli import main
from edgernn.core.placement import CpuFallbackWarning, cpu_fallback, profiled_run
from edgernn.core.providers import (
    SessionConfig,
    cuda_missing,
    provider_list,
    session_options,
    tensorrt_missing,
)
from edgernn.errors import ProviderError
from edgernn.feeds.synth import sensor_signal

DATA = Path(__file__).parent.parent / "data"
SHIPPED = edgernn.default_model_path()
TOL = 1e-4  # forecast units (degC): float32 on two devices, TF32 off


def _cuda_why() -> str | None:
    """Why CUDA cannot run here (the driver check, then a real session), or None."""
    why = cuda_missing()
    if why is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CpuFallbackWarning)
                edgernn.load(provider="cuda")
        except ProviderError as e:
            why = str(e)
    return why


CUDA_WHY = _cuda_why()
pytestmark = pytest.mark.skipif(CUDA_WHY is not None, reason=f"CUDA cannot run here: {CUDA_WHY}")


@pytest.fixture(scope="module")
def cuda_model() -> edgernn.Model:
    return edgernn.load(provider="cuda")


@pytest.fixture(scope="module")
def rows200() -> np.ndarray:
    s = sensor_signal(200, seed=11)
    return np.stack([s["temp"], s["humidity"]], axis=1)


def compare_streams(
    cpu: edgernn.Model, gpu: edgernn.Model, rows: np.ndarray, tol: float = TOL
) -> None:
    a, b = cpu.stream(), gpu.stream()
    for i, row in enumerate(rows):
        ra, rb = a.step(row), b.step(row)
        for k, v in ra.forecast.items():
            assert abs(rb.forecast[k] - v) <= tol, (
                f"step {i + 1}, {k}: cpu {v}, {gpu.provider} {rb.forecast[k]}"
            )
        assert rb.step == ra.step and rb.anomaly == ra.anomaly


def compare_pools(
    cpu: edgernn.Model, gpu: edgernn.Model, rows: np.ndarray, tol: float = TOL
) -> None:
    """64 keys: full ticks in slot order (the dense IOBinding path) and partial ticks (gather)."""
    keys = [f"k{i}" for i in range(64)]
    offsets = np.linspace(-3.0, 3.0, 64, dtype=np.float32)[:, None]
    pa, pb = cpu.pool(capacity=64), gpu.pool(capacity=64)
    for t, row in enumerate(rows[:80]):
        ticked = keys if t % 4 else keys[::3]
        batch = (row[None, :] + offsets)[[keys.index(k) for k in ticked]]
        ra, rb = pa.step_batch(ticked, batch), pb.step_batch(ticked, batch)
        np.testing.assert_allclose(rb.forecast, ra.forecast, atol=tol, rtol=0, err_msg=f"tick {t}")
        np.testing.assert_array_equal(rb.step, ra.step)


# ---- CUDA ------------------------------------------------------------------------------------
def test_the_shipped_model_runs_on_cuda(cuda_model):
    assert cuda_model.provider == "cuda" and cuda_model.state_device == "cuda"
    assert cuda_model.session.get_providers()[0] == "CUDAExecutionProvider"
    assert sum(cuda_model.placement.get("CUDAExecutionProvider", {}).values()) > 0, (
        cuda_model.placement
    )


def test_a_cuda_stream_matches_the_cpu_for_200_steps(model, cuda_model, rows200):
    compare_streams(model, cuda_model, rows200)


def test_stream_state_stays_on_the_gpu_between_steps(cuda_model, rows200):
    s = cuda_model.stream()
    sets = s._buf.sets
    addresses = [[v.data_ptr() for v in one] for one in sets]
    for row in rows200[:5]:
        s.step(row)
        assert s._buf.sets is sets
        for one in s._buf.sets:
            for v in one:
                assert isinstance(v, ort.OrtValue) and v.device_name().lower() == "cuda"
    # bound once, never reallocated
    assert [[v.data_ptr() for v in one] for one in sets] == addresses


def test_a_pool_of_64_keys_on_cuda_matches_the_cpu(model, cuda_model, rows200):
    compare_pools(model, cuda_model, rows200)


# ---- silent CPU fallback ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        SHIPPED,
        SHIPPED.with_name("char-lm.onnx"),
        DATA / "tiny-bilstm.onnx",
        DATA / "tiny-classifier.onnx",
    ],
    ids=lambda p: p.name,
)
def test_shipped_graphs_have_no_cpu_fallback_on_cuda(path):
    """The char LM's embedding Gather must run on CUDA; the bilstm's int64 shape chain (Shape ->
    Gather -> Unsqueeze -> Concat) may sit on the CPU on purpose and is not a fallback."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CpuFallbackWarning)
        m = edgernn.load(path, provider="cuda")
    assert m.cpu_fallback == [], f"{path.name} on CUDA: {m.provider_note}; placement {m.placement}"
    assert not [w for w in caught if issubclass(w.category, CpuFallbackWarning)]


def test_the_placement_probe_sees_cuda_nodes(cuda_model):
    """The profiled first call really reports CUDA placement (the trace format on a GPU)."""
    config = SessionConfig("cuda")
    session = ort.InferenceSession(
        str(SHIPPED),
        session_options(config, profile=True),
        providers=provider_list(config, "cuda"),
        enable_fallback=0,
    )
    sig = cuda_model.signature
    feeds = {sig.input_name: sig.inputs[0].zeros(1)} | {s.input: s.zeros(1) for s in sig.states}
    nodes = profiled_run(session, feeds)
    assert any(n.provider == "CUDAExecutionProvider" and n.op_type == "LSTM" for n in nodes), nodes
    assert cpu_fallback("cuda", nodes) == [], nodes


def test_cli_stream_and_inspect_on_cuda():
    r = CliRunner().invoke(
        main, ["stream", "--provider", "cuda", "--source", "demo", "--limit", "50"]
    )
    assert r.exit_code == 0, r.output
    assert "on cuda" in r.stderr and "CPU fallback" not in r.stderr
    r = CliRunner().invoke(main, ["inspect", "--provider", "cuda"])
    assert r.exit_code == 0 and "placement    CUDA: " in r.stdout, r.output


# ---- CUDA graphs -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph_model() -> edgernn.Model:
    try:
        m = edgernn.load(provider="cuda", cuda_graph=True)
    except ProviderError as e:
        pytest.skip(f"CUDA graphs cannot capture the shipped model here: {e}")
    if getattr(m.step_buffers(1), "run_options", None) is None:
        pytest.skip(
            "StepBuffers does not pass providers.graph_run_options yet: "
            "replay would mix its two bindings"
        )
    return m


def test_a_cuda_graph_stream_matches_the_cpu_for_200_steps(model, graph_model, rows200):
    compare_streams(model, graph_model, rows200)


def test_two_cuda_graph_streams_do_not_share_a_graph(model, graph_model, rows200):
    a, b, ref = graph_model.stream(), graph_model.stream(), model.stream()
    for row in rows200[:40]:
        a.step(row)  # a runs ahead; b must not replay a's captured buffers
    for row in rows200[:40]:
        rb, rr = b.step(row), ref.step(row)
        assert abs(rb.forecast["temp"] - rr.forecast["temp"]) <= TOL


def test_a_pool_of_64_keys_with_cuda_graphs_matches_the_cpu(model, graph_model, rows200):
    compare_pools(model, graph_model, rows200)


# ---- TensorRT --------------------------------------------------------------------------------
@pytest.mark.skipif(
    CUDA_WHY is None and tensorrt_missing() is not None,
    reason=f"TensorRT cannot run here: {tensorrt_missing()}",
)
def test_tensorrt_matches_the_cpu_and_caches_its_engine(model, rows200, tmp_path):
    m = edgernn.load(provider="tensorrt", trt_cache_dir=str(tmp_path))
    assert m.provider == "tensorrt" and m.state_device == "cuda"
    assert sum(m.placement.get("TensorrtExecutionProvider", {}).values()) > 0, m.placement
    # TensorRT may build float32 layers with TF32 (no ORT option turns that off): a looser bound
    compare_streams(model, m, rows200, tol=5e-3)
    compare_pools(model, m, rows200, tol=5e-3)
    assert any(tmp_path.iterdir()), "no TensorRT engine was cached"
