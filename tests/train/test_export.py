"""Export: every architecture within 1e-5 of PyTorch, loaded by the runtime; failures write
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import ExportError, UsageError  # noqa: E402
from edgernn.signature import METADATA_KEY, Signature  # noqa: E402
from edgernn.train.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from edgernn.train.export import graph as export_module  # noqa: E402
from edgernn.train.export import parity as parity_module  # noqa: E402
from edgernn.train.export.config import ExportConfig  # noqa: E402
from edgernn.train.export.parity import (  # noqa: E402
    GraphNames,
    declared_shape_problems,
    random_case,
    run_stepwise,
    torch_runner,
)
from edgernn.train.forecast.export import export_model  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402
from edgernn.train.registry import export_checkpoint  # noqa: E402

REQUIRED_SHAPES = [[1, 1], [1, 50], [4, 7]]
ARCHS = [
    ("rnn", (8,)),
    ("lstm", (8,)),
    ("gru", (8,)),
    ("rnn", (8, 4)),
    ("lstm", (8, 4)),
    ("gru", (8, 4)),
    ("lstm", (16, 8, 4)),
]
FAST = ExportConfig(exporters=("torchscript",))  # failure tests that need not wait for dynamo


def make_checkpoint(
    arch: str = "lstm", hidden: tuple[int, ...] = (8, 4), seed: int = 0, model_cls=Forecaster
) -> Checkpoint:
    torch.manual_seed(seed)
    model = model_cls(ForecasterConfig(arch=arch, n_features=2, n_targets=1, hidden=hidden)).eval()
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
        "provenance": {"data": "random"},
    }
    return Checkpoint(model, signature, {}, {})


def graph_dims(path: Path) -> dict[str, list]:
    graph = onnx.load(str(path)).graph
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*graph.input, *graph.output)
    }


# ---- every architecture ----------------------------------------------------------------------
@pytest.mark.parametrize("arch,hidden", ARCHS, ids=[f"{a}{list(h)}" for a, h in ARCHS])
def test_every_arch_exports_within_tolerance_and_the_runtime_agrees(tmp_path, arch, hidden):
    ckpt = make_checkpoint(arch, hidden)
    out = tmp_path / "m.onnx"
    sig = export_model(ckpt, out)
    p = sig.parity
    assert p["max_abs_error"] <= 1e-5 and p["tolerance"] == 1e-5
    assert p["reference_max_abs_error"] is not None and p["reference_max_abs_error"] <= 1e-5
    assert p["shapes"] == REQUIRED_SHAPES and p["opset"] == 17 and p["exporter"] == "torchscript"
    model = edgernn.load(out, provider="cpu")
    assert model.signature == sig
    rng = np.random.default_rng(7)
    for batch, length in REQUIRED_SHAPES:
        x, states = random_case(ckpt.model.state_shapes(), 2, batch, length, rng, 0.5)
        want = torch_runner(ckpt.model)(x, states)
        for got in (model.run(x, states), run_stepwise(model.run, x, states)):
            np.testing.assert_allclose(got[0], want[0], atol=1e-5, rtol=0)
            for g, w in zip(got[1], want[1]):
                np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


def test_graph_has_dynamic_axes_explicit_states_and_the_signature(tmp_path):
    out = tmp_path / "m.onnx"
    sig = export_model(make_checkpoint("lstm", (8, 4)), out)
    dims = graph_dims(out)
    assert dims["x"] == ["batch", "time", 2] and dims["y"] == ["batch", "time", 1]
    assert dims["state_in.0"] == [1, "batch", 8] and dims["state_out.3"] == [1, "batch", 4]
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert Signature.from_json(meta[METADATA_KEY]) == sig
    assert [(s.input, s.output, s.shape) for s in sig.states] == [
        (f"state_in.{i}", f"state_out.{i}", (1, "batch", h)) for i, h in enumerate((8, 8, 4, 4))
    ]
    assert sig.provenance["data"] == "random" and "torch" in sig.provenance["export"]
    assert sig.inputs[0].shape == ("batch", "time", 2)


def test_export_checkpoint_reads_a_saved_checkpoint(tmp_path):
    ckpt = make_checkpoint("gru", (6,))
    path = save_checkpoint(tmp_path / "checkpoint.pt", ckpt.model, ckpt.signature, {}, {})
    sig = export_checkpoint(path, tmp_path / "sub" / "m.onnx")
    assert (tmp_path / "sub" / "m.onnx").is_file() and sig.arch == "gru"


def test_export_is_quiet(tmp_path, capfd):
    export_model(make_checkpoint(), tmp_path / "m.onnx")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---- failures write nothing ------------------------------------------------------------------
def assert_nothing_written(directory: Path, out: Path, before: set[str]) -> None:
    assert not out.exists()
    assert {p.name for p in directory.iterdir()} == before  # no temp files either


def test_zero_tolerance_fails_with_a_per_shape_report(tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as info:
        export_model(
            make_checkpoint(), out, ExportConfig(tolerance=0.0, exporters=("torchscript",))
        )
    text = str(info.value)
    assert (
        text.splitlines()[0].startswith("export failed:")
        and "nothing was written" in text.splitlines()[0]
    )
    assert "(batch 1, length 50)" in text and "(batch 4, length  7)" in text and "FAIL" in text
    assert_nothing_written(tmp_path, out, set())


def test_corrupted_weights_in_the_graph_are_caught(tmp_path, monkeypatch):
    original = export_module.export_graph

    def corrupted(*args, **kwargs):
        graph = original(*args, **kwargs)
        weights = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))
        values = onnx.numpy_helper.to_array(weights) * np.float32(1.001)
        weights.CopyFrom(onnx.numpy_helper.from_array(values, weights.name))
        return graph

    monkeypatch.setattr(export_module, "export_graph", corrupted)
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match="max abs error") as info:
        export_model(make_checkpoint(), out, FAST)
    assert "onnxruntime (batch 1, length 50)" in str(info.value) and "reference" in str(info.value)
    assert_nothing_written(tmp_path, out, set())


def test_a_failed_export_leaves_an_existing_file_alone(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the previous good export")
    with pytest.raises(ExportError):
        export_model(
            make_checkpoint(), out, ExportConfig(tolerance=0.0, exporters=("torchscript",))
        )
    assert out.read_bytes() == b"the previous good export"
    assert_nothing_written(tmp_path, tmp_path / "absent", {"m.onnx"})


class DataDependent(Forecaster):
    """Python control flow on values: tracing freezes one branch, torch.export refuses it."""

    def forward(self, x, *states):
        y, *new = super().forward(x, *states)
        if float(x.mean()) > 0:
            y = y * 2
        return (y, *new)


def test_an_unexportable_model_fails_with_every_exporter(tmp_path):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as info:
        export_model(make_checkpoint(model_cls=DataDependent), out)
    text = str(info.value)
    assert "tried torchscript, dynamo)" in text.splitlines()[0]
    assert "  torchscript: max abs error" in text and "  dynamo: " in text
    assert [c["exporter"] for c in info.value.candidates] == ["torchscript", "dynamo"]
    assert_nothing_written(tmp_path, out, set())


def test_fixed_axes_in_a_graph_are_reported(tmp_path):
    out = tmp_path / "m.onnx"
    export_model(make_checkpoint(), out)
    graph = onnx.load(str(out))
    y = next(o for o in graph.graph.output if o.name == "y")
    y.type.tensor_type.shape.dim[1].dim_value = 3  # what the dynamo exporter does to y
    names = GraphNames(
        "x",
        "y",
        tuple(f"state_in.{i}" for i in range(4)),
        tuple(f"state_out.{i}" for i in range(4)),
    )
    assert declared_shape_problems(graph, names, make_checkpoint().model) == [
        "y axis 1 fixed to 3 (expected 'time')"
    ]


def test_a_reference_evaluator_that_cannot_run_is_recorded_not_fatal(tmp_path, monkeypatch):
    def unavailable(graph, names):
        raise NotImplementedError("no implementation for LSTM")

    monkeypatch.setattr(parity_module, "reference_runner", unavailable)
    sig = export_model(make_checkpoint(), tmp_path / "m.onnx")
    assert sig.parity["reference_max_abs_error"] is None
    assert "NotImplementedError: no implementation for LSTM" in sig.parity["reference_note"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"exporters": ("onnx-magic",)},
        {"exporters": ()},
        {"trace_shape": (1, 3)},
        {"tolerance": -1.0},
        {"verify_shapes": ((0, 5),)},
    ],
)
def test_bad_config_is_a_usage_error(kwargs):
    with pytest.raises(UsageError):
        ExportConfig(**kwargs)


# ---- the command line ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory) -> Path:
    ckpt = make_checkpoint("lstm", (8, 4))
    return save_checkpoint(
        tmp_path_factory.mktemp("run") / "checkpoint.pt", ckpt.model, ckpt.signature, {}, {}
    )


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_export_prints_a_short_parity_summary(tmp_path, checkpoint_path):
    out = tmp_path / "temp.onnx"
    r = run("export", str(checkpoint_path), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"wrote {out}: forecast lstm [8, 4], temp, humidity -> temp")
    assert (
        "parity vs PyTorch: max abs error" in r.stdout
        and "reference evaluator: max abs error" in r.stdout
    )
    assert "exporter: torchscript, opset 17" in r.stdout and r.stderr == ""
    edgernn.load(out, provider="cpu")


def test_cli_export_json_parses(tmp_path, checkpoint_path):
    r = run("export", str(checkpoint_path), "--out", str(tmp_path / "m.onnx"), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (
        doc["ok"] is True
        and doc["parity"]["max_abs_error"] <= 1e-5
        and doc["parity"]["shapes"] == REQUIRED_SHAPES
    )


def test_cli_export_parity_failure_is_one_clear_line_and_exit_7(tmp_path, checkpoint_path):
    out = tmp_path / "m.onnx"
    r = run("export", str(checkpoint_path), "--out", str(out), "--tolerance", "0")
    assert r.exit_code == 7, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith("error: export failed:") and "nothing was written" in first
    assert "Traceback" not in r.output and not out.exists()


def test_cli_export_failure_json_parses(tmp_path, checkpoint_path):
    r = run(
        "export",
        str(checkpoint_path),
        "--out",
        str(tmp_path / "m.onnx"),
        "--tolerance",
        "0",
        "--json",
    )
    assert r.exit_code == 7
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["error"].startswith("export failed:")
    assert doc["candidates"][0]["exporter"] == "torchscript" and doc["candidates"][0]["cases"]


def test_cli_export_missing_checkpoint_exits_5(tmp_path):
    r = run("export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m.onnx"))
    assert r.exit_code == 5, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: checkpoint") and "Traceback" not in r.output


def test_cli_export_needs_out(checkpoint_path):
    r = run("export", str(checkpoint_path))
    assert r.exit_code == 2 and "--out" in r.stderr
