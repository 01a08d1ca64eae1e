"""--quantize int8 / --precision fp16: what really gets reduced, the measured change, refusals."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import ExportError, UsageError  # noqa: E402
from edgernn.signature import Signature  # noqa: E402
from edgernn.train.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from edgernn.train.export import graph as export_module  # noqa: E402
from edgernn.train.export import quantize as quantize_module  # noqa: E402
from edgernn.train.export import reduced as reduced_module  # noqa: E402
from edgernn.train.export.config import ExportConfig  # noqa: E402
from edgernn.train.export.quantize import prepare, quantize_int8  # noqa: E402
from edgernn.train.export.reduced import comparison_inputs, forecast_change  # noqa: E402
from edgernn.train.forecast.export import build_signature, export_model  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402

FAST = {"exporters": ("torchscript",), "quant_steps": 300}


def make_checkpoint(
    arch: str = "lstm", hidden: tuple[int, ...] = (16, 8), data: object = "random"
) -> Checkpoint:
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(arch=arch, n_features=2, n_targets=1, hidden=hidden)).eval()
    signature = {
        "task": "forecast",
        "arch": arch,
        "layers": list(hidden),
        "features": ["temp", "humidity"],
        "targets": ["temp"],
        "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
        "target_scaler": {"kind": "standard", "offset": [20.0], "scale": [3.0]},
        "window": 20,
        "anomaly_threshold": 4.0,
        "provenance": {"data": data},
    }
    return Checkpoint(model, signature, {}, {})


def op_counts(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def initializer_types(path: Path) -> Counter:
    return Counter(
        TensorProto.DataType.Name(t.data_type) for t in onnx.load(str(path)).graph.initializer
    )


def sensor_rows(n: int) -> np.ndarray:
    s = edgernn.feeds.synth.sensor_signal(n, seed=5)
    return np.stack([s["temp"], s["humidity"]], axis=1)


# ---- int8 --------------------------------------------------------------------------------------
def test_int8_really_quantizes_the_lstm_and_the_runtime_runs_it(tmp_path):
    out = tmp_path / "m.onnx"
    ckpt = make_checkpoint("lstm", (16, 8))
    sig = export_model(ckpt, out, ExportConfig(quantize="int8", exporters=("torchscript",)))
    ops = op_counts(out)
    assert ops["DynamicQuantizeLSTM"] == 2 and ops["LSTM"] == 0 and ops["MatMulInteger"] == 1
    assert initializer_types(out)["INT8"] >= 4  # W and R of both layers (and the head)
    q = sig.parity["quantization"]
    assert q["mode"] == "int8-dynamic" and q["provider"] == "cpu" and q["steps"] == 2000
    assert q["quantized_ops"] == {"LSTM": 2, "MatMul": 1} and q["float32_ops"] == {}
    assert (
        q["weights"]["int8"] > 4 * q["weights"]["float32"]
        and q["note"] == "every recurrent layer was converted"
    )
    assert 0 < q["rms_change"] <= q["max_abs_change"] and q["rms_change"] <= q["tolerance"] == 0.02
    assert q["per_target"]["temp"]["rms_change"] == pytest.approx(
        3.0 * q["rms_change"]
    )  # user units = model x scale
    assert q["forced"] is False and q["measured_with"] == "onnxruntime cpu"
    assert (
        q["chunk_vs_steps_change"] > 0 and q["batch_coupling_change"] > 0
    )  # dynamic activation scales: honest
    assert sig.parity["max_abs_error"] <= 1e-5  # float32 parity still ran first

    model = edgernn.load(out, provider="cpu")
    assert model.signature == sig
    rows = sensor_rows(100)
    chunk = model.stream().steps(rows)
    stream = model.stream()
    single = [stream.step(r) for r in rows]
    float_model = edgernn.load(_float_export(ckpt, tmp_path), provider="cpu")
    want = [r.forecast["temp"] for r in float_model.stream().steps(rows)]
    got = np.array([r.forecast["temp"] for r in single])
    assert (
        len(chunk) == 100 and np.abs(got - want).max() <= 3.0 * 0.05
    )  # user units: 5% of the scale at most


def _float_export(ckpt: Checkpoint, directory: Path) -> Path:
    out = directory / "float.onnx"
    export_model(ckpt, out, ExportConfig(exporters=("torchscript",)))
    return out


@pytest.mark.parametrize("arch,op", [("gru", "GRU"), ("rnn", "RNN")])
def test_int8_on_gru_and_rnn_is_refused_unless_forced_and_then_says_only_the_head(
    tmp_path, arch, op
):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="applies to LSTM layers only"):
        export_model(make_checkpoint(arch, (16, 8)), out, ExportConfig(quantize="int8", **FAST))
    assert not out.exists()
    sig = export_model(
        make_checkpoint(arch, (16, 8)), out, ExportConfig(quantize="int8", force=True, **FAST)
    )
    q = sig.parity["quantization"]
    assert q["quantized_ops"] == {"MatMul": 1} and q["float32_ops"] == {op: 2}
    assert (
        q["note"].startswith("only the dense head was quantized")
        and f"no int8 {op} kernel" in q["note"]
    )
    assert "GRU and RNN layers stay float32" in q["applies_to"]
    ops = op_counts(out)
    assert ops[op] == 2 and ops["MatMulInteger"] == 1 and ops["DynamicQuantizeLSTM"] == 0
    edgernn.load(out, provider="cpu").stream().steps(sensor_rows(5))


def constant_weights(graph: onnx.ModelProto) -> onnx.ModelProto:
    """Every initializer as a Constant node: what some exporters emit, and what quantize_dynamic
    skips."""
    graph = onnx.ModelProto.FromString(graph.SerializeToString())
    g = graph.graph
    nodes = [helper.make_node("Constant", [], [t.name], value=t) for t in g.initializer] + list(
        g.node
    )
    del g.initializer[:]
    del g.node[:]
    g.node.extend(nodes)
    return graph


def test_preprocessing_makes_constant_weights_quantizable(tmp_path):
    out = tmp_path / "float.onnx"
    export_model(make_checkpoint(), out, ExportConfig(exporters=("torchscript",)))
    graph = constant_weights(onnx.load(str(out)))
    assert (
        Counter(n.op_type for n in quantize_int8(graph).graph.node)["DynamicQuantizeLSTM"] == 0
    )  # the trap
    assert (
        Counter(n.op_type for n in quantize_int8(prepare(graph)).graph.node)["DynamicQuantizeLSTM"]
        == 2
    )


def test_export_preprocesses_an_exporter_graph_with_constant_weights(tmp_path, monkeypatch):
    original = export_module.export_graph
    monkeypatch.setattr(
        export_module, "export_graph", lambda *a, **k: constant_weights(original(*a, **k))
    )
    sig = export_model(
        make_checkpoint(), tmp_path / "m.onnx", ExportConfig(quantize="int8", **FAST)
    )
    assert sig.parity["quantization"]["quantized_ops"] == {"LSTM": 2, "MatMul": 1}


# ---- refusing and forcing ----------------------------------------------------------------------
def test_zero_tolerance_refuses_and_writes_nothing(tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as info:
        export_model(
            make_checkpoint(), out, ExportConfig(quantize="int8", quant_tolerance=0.0, **FAST)
        )
    first = str(info.value).splitlines()[0]
    assert (
        first.startswith("export refused: int8-dynamic changes the forecast by RMS")
        and "--force" in first
    )
    assert "nothing was written" in first and info.value.quantization["forced"] is False
    assert list(tmp_path.iterdir()) == []  # no temp file either


def test_force_writes_it_and_says_so(tmp_path):
    out = tmp_path / "m.onnx"
    sig = export_model(
        make_checkpoint(),
        out,
        ExportConfig(quantize="int8", quant_tolerance=0.0, force=True, **FAST),
    )
    q = edgernn.load(out, provider="cpu").signature.parity["quantization"]
    assert (
        q == sig.parity["quantization"]
        and q["forced"] is True
        and q["rms_change"] > q["tolerance"] == 0.0
    )


def test_force_within_tolerance_is_not_recorded_as_forced(tmp_path):
    sig = export_model(
        make_checkpoint(), tmp_path / "m.onnx", ExportConfig(quantize="int8", force=True, **FAST)
    )
    assert sig.parity["quantization"]["forced"] is False


# ---- fp16 --------------------------------------------------------------------------------------
def test_fp16_keeps_float32_io_passes_the_checker_and_is_measured(tmp_path):
    out = tmp_path / "m.onnx"
    sig = export_model(
        make_checkpoint("lstm", (16, 8)), out, ExportConfig(precision="fp16", **FAST)
    )
    graph = onnx.load(str(out))
    onnx.checker.check_model(graph, full_check=True)
    assert {v.type.tensor_type.elem_type for v in (*graph.graph.input, *graph.graph.output)} == {
        TensorProto.FLOAT
    }
    inits = {t.name: t.data_type for t in graph.graph.initializer}
    lstm_weights = [
        inits[n.input[k]] for n in graph.graph.node if n.op_type == "LSTM" for k in (1, 2, 3)
    ]
    assert lstm_weights and set(lstm_weights) == {TensorProto.FLOAT16}
    q = sig.parity["quantization"]
    assert q["mode"] == "fp16" and q["provider"] == "cuda" and "--provider cuda" in q["applies_to"]
    assert q["quantized_ops"] == {"LSTM": 2} and q["float32_ops"] == {"MatMul": 1}
    assert q["measured_with"] == "onnx.reference (float16 arithmetic)"
    assert (
        0 < q["rms_change"] < 0.005
        and q["chunk_vs_steps_change"] < 1e-5
        and q["batch_coupling_change"] < 1e-5
    )
    assert q["bytes"] < 0.75 * q["float32_bytes"]
    results = (
        edgernn.load(out, provider="cpu").stream().steps(sensor_rows(10))
    )  # runs on CPU too (slowly)
    assert all(np.isfinite(r.forecast["temp"]) for r in results)


def test_fp16_that_cannot_be_measured_needs_force(tmp_path, monkeypatch):
    monkeypatch.setattr(reduced_module, "reduced_runner", lambda *a: ("", None, "needs CUDA: test"))
    out = tmp_path / "m.onnx"
    with pytest.raises(
        ExportError, match="could not be measured here .needs CUDA: test.*pass --force"
    ):
        export_model(make_checkpoint(), out, ExportConfig(precision="fp16", **FAST))
    assert not out.exists()
    sig = export_model(make_checkpoint(), out, ExportConfig(precision="fp16", force=True, **FAST))
    q = sig.parity["quantization"]
    assert (
        q["rms_change"] is None and q["not_measured"] == "needs CUDA: test" and q["forced"] is True
    )


# ---- inputs, units, config ---------------------------------------------------------------------
def test_comparison_inputs_follow_the_training_data():
    sig = Signature.from_json(export_signature_json({"kind": "synth", "name": "sensor", "seed": 3}))
    rows, source = comparison_inputs(sig, 50, seed=0)
    assert source == "synth:sensor?n=50&seed=4" and rows.shape == (50, 2)
    assert np.array_equal(rows[:, 0], edgernn.feeds.synth.sensor_signal(50, seed=4)["temp"])
    rows, source = comparison_inputs(
        Signature.from_json(export_signature_json("random")), 2000, seed=0
    )
    assert source.startswith("sines") and rows.shape == (2000, 2)
    np.testing.assert_allclose(
        rows.mean(axis=0), [20.0, 60.0], atol=0.5
    )  # the input scaler's level
    np.testing.assert_allclose(rows.std(axis=0), [3.0, 5.0], rtol=0.1)  # and spread


def export_signature_json(data: object) -> str:
    ckpt = make_checkpoint(data=data)
    names = ExportConfig().names(4)
    states = export_module.state_specs(names, ckpt.model.state_shapes())
    parity = export_module.parity_record([_passed_candidate()], ExportConfig())
    return build_signature(ckpt, names, states, parity).to_json()


def _passed_candidate():
    from edgernn.train.export.parity import ParityResult

    graph = helper.make_model(
        helper.make_graph([], "g", [], []), opset_imports=[helper.make_opsetid("", 17)]
    )
    return export_module.Candidate("torchscript", graph, ParityResult(1e-5))


def test_forecast_change_in_model_and_user_units():
    sig = Signature.from_json(export_signature_json("random"))
    want = np.zeros((1, 4, 1), dtype=np.float32)
    got = np.array([0.0, 0.1, -0.1, 0.2], dtype=np.float32).reshape(1, 4, 1)
    change = forecast_change(got, want, sig)
    assert change["max_abs_change"] == pytest.approx(0.2) and change["rms_change"] == pytest.approx(
        np.sqrt(0.06 / 4)
    )
    assert change["per_target"]["temp"]["max_abs_change"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quantize": "int4"},
        {"precision": "fp8"},
        {"quantize": "int8", "precision": "fp16"},
        {"quantize": "int8", "quant_tolerance": -1.0},
        {"precision": "fp16", "quant_steps": 1},
    ],
)
def test_bad_reduction_config_is_a_usage_error(kwargs):
    with pytest.raises(UsageError):
        ExportConfig(**kwargs)


# ---- the command line --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory) -> Path:
    ckpt = make_checkpoint("lstm", (16, 8))
    return save_checkpoint(
        tmp_path_factory.mktemp("q") / "checkpoint.pt", ckpt.model, ckpt.signature, {}, {}
    )


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_quantize_summary_names_what_was_quantized(tmp_path, checkpoint_path):
    out = tmp_path / "m.onnx"
    r = run("export", str(checkpoint_path), "--out", str(out), "--quantize", "int8")
    assert r.exit_code == 0, r.output
    assert "int8-dynamic: quantized to int8: LSTM x2, MatMul x1; kept float32: nothing" in r.stdout
    assert (
        "accuracy change vs float32 over 2000 stateful steps" in r.stdout
        and "within tolerance 2.00%" in r.stdout
    )
    assert (
        "parity of the float32 graph vs PyTorch" in r.stdout
        and "meant for --provider cpu" in r.stdout
    )
    assert "KiB file" in r.stdout and r.stderr == ""


def test_cli_fp16_json_and_sizes(tmp_path, checkpoint_path):
    out = tmp_path / "m.onnx"
    r = run("export", str(checkpoint_path), "--out", str(out), "--precision", "fp16", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (
        doc["size_bytes"] == out.stat().st_size and doc["parity"]["quantization"]["mode"] == "fp16"
    )


def test_cli_refusal_is_exit_7_one_line_and_no_file(tmp_path, checkpoint_path):
    out = tmp_path / "m.onnx"
    r = run(
        "export",
        str(checkpoint_path),
        "--out",
        str(out),
        "--quantize",
        "int8",
        "--quant-tolerance",
        "0",
    )
    assert r.exit_code == 7, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: export refused:") and not out.exists()
    r = run(
        "export",
        str(checkpoint_path),
        "--out",
        str(out),
        "--quantize",
        "int8",
        "--quant-tolerance",
        "0",
        "--json",
    )
    doc = json.loads(r.stdout)
    assert r.exit_code == 7 and doc["ok"] is False and doc["quantization"]["rms_change"] > 0


def test_cli_force_writes_forced_true(tmp_path, checkpoint_path):
    out = tmp_path / "m.onnx"
    r = run(
        "export",
        str(checkpoint_path),
        "--out",
        str(out),
        "--quantize",
        "int8",
        "--quant-tolerance",
        "0",
        "--force",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["parity"]["quantization"]["forced"] is True
    assert edgernn.load(out, provider="cpu").signature.parity["quantization"]["forced"] is True


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--force",), "--force only applies"),
        (("--quant-tolerance", "0.1"), "--quant-tolerance only applies"),
        (("--quantize", "int8", "--precision", "fp16"), "cannot be combined"),
        (("--quantize", "int4"), "'int4' is not 'int8'"),
    ],
)
def test_cli_reduction_usage_errors_exit_2(tmp_path, checkpoint_path, args, needle):
    r = run("export", str(checkpoint_path), "--out", str(tmp_path / "m.onnx"), *args)
    assert r.exit_code == 2 and needle in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "m.onnx").exists()


def test_quantized_export_is_quiet_and_leaves_logging_alone(tmp_path, capfd):
    import logging

    handlers = list(logging.getLogger().handlers)
    export_model(make_checkpoint(), tmp_path / "m.onnx", ExportConfig(quantize="int8", **FAST))
    export_model(make_checkpoint(), tmp_path / "h.onnx", ExportConfig(precision="fp16", **FAST))
    out, err = capfd.readouterr()
    assert out == "" and err == "" and logging.getLogger().handlers == handlers


def test_a_failing_quantizer_is_an_export_error_and_writes_nothing(tmp_path, monkeypatch):
    def broken(graph, per_channel=True):
        raise RuntimeError("quantizer exploded")

    monkeypatch.setattr(reduced_module, "quantize_int8", broken)
    with pytest.raises(
        ExportError,
        match="int8-dynamic reduction of the verified graph raised RuntimeError: quantizer "
        "exploded",
    ):
        export_model(make_checkpoint(), tmp_path / "m.onnx", ExportConfig(quantize="int8", **FAST))
    assert list(tmp_path.iterdir()) == []


def test_cli_default_tolerance_is_the_library_default():
    from edgernn.cli import export_cmd

    assert (
        export_cmd.DEFAULT_QUANT_TOLERANCE
        == quantize_module.DEFAULT_TOLERANCE
        == ExportConfig().quant_tolerance
    )


def test_verify_holds_an_int8_model_to_its_export_promise(tmp_path):
    ckpt_path = tmp_path / "c.pt"
    ck = make_checkpoint("lstm", (16, 8))
    save_checkpoint(ckpt_path, ck.model, ck.signature, {}, {})
    out = tmp_path / "q.onnx"
    export_model(ck, out, ExportConfig(quantize="int8", **FAST))
    r = CliRunner().invoke(main, ["verify", str(out), "--checkpoint", str(ckpt_path), "--json"])
    assert r.exit_code == 0, r.output
    names = [c["name"] for c in json.loads(r.stdout)["checks"]]
    assert "reduced vs float32 (RMS)" in names and "chunks and batching (RMS)" in names
    assert "int8-dynamic" in CliRunner().invoke(main, ["inspect", str(out)]).stdout
