"""`edgernn verify --checkpoint`: PyTorch <-> ONNX Runtime <-> reference evaluator, stepping 50
steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.train.checkpoint import Checkpoint, save_checkpoint  # noqa: E402
from edgernn.train.export import checks as verify_module  # noqa: E402
from edgernn.train.export.verify import verify_checkpoint  # noqa: E402
from edgernn.train.forecast.export import export_model  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402

CONTRACT = {
    "shapes",
    "steps == chunk",
    "chunks 1/3/7",
    "reset == fresh",
    "batch independence",
    "snapshot/restore",
}


def make_checkpoint(
    arch: str = "lstm", hidden: tuple[int, ...] = (8, 4), seed: int = 0
) -> Checkpoint:
    torch.manual_seed(seed)
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
        "provenance": {},
    }
    return Checkpoint(model, signature, {}, {})


def exported(tmp_path: Path, ckpt: Checkpoint) -> tuple[Path, Path]:
    """(model.onnx, checkpoint.pt) for ``ckpt``."""
    onnx_path = tmp_path / "m.onnx"
    export_model(ckpt, onnx_path)
    return onnx_path, save_checkpoint(
        tmp_path / "checkpoint.pt", ckpt.model, ckpt.signature, {}, {}
    )


@pytest.fixture(scope="module")
def lstm(tmp_path_factory) -> tuple[Path, Path]:
    return exported(tmp_path_factory.mktemp("lstm"), make_checkpoint())


@pytest.mark.parametrize("arch,hidden", [("rnn", (8, 4)), ("lstm", (8, 4)), ("gru", (8, 4))])
def test_three_way_parity_passes_for_every_arch(tmp_path, arch, hidden):
    model_path, ckpt_path = exported(tmp_path, make_checkpoint(arch, hidden))
    report = verify_checkpoint(edgernn.load(model_path, provider="cpu"), ckpt_path)
    assert report.passed, [c for c in report.checks if not c.passed]
    names = {c.name for c in report.checks}
    assert CONTRACT | {"signature matches checkpoint"} <= names
    for batch in (1, 4):
        for pair in ("torch vs onnxruntime", "torch vs reference", "onnxruntime vs reference"):
            assert f"{pair}, batch {batch}" in names
    parity = [c for c in report.checks if " vs " in c.name and "batch" in c.name]
    assert all(c.max_abs_error <= 1e-5 and "50 steps one at a time" in c.detail for c in parity)
    assert report.checkpoint == str(ckpt_path)


def test_other_weights_fail_parity_but_not_the_signature(lstm):
    model_path, _ = lstm
    report = verify_checkpoint(
        edgernn.load(model_path, provider="cpu"), make_checkpoint(seed=1), contract=False
    )
    by_name = {c.name: c for c in report.checks}
    assert by_name["signature matches checkpoint"].passed
    assert (
        not by_name["torch vs onnxruntime, batch 4"].passed
        and by_name["torch vs onnxruntime, batch 4"].max_abs_error > 1e-3
    )
    assert by_name["onnxruntime vs reference, batch 4"].passed  # the graph agrees with itself
    assert not report.passed


def test_a_checkpoint_of_another_architecture_fails_on_the_signature(lstm):
    model_path, _ = lstm
    report = verify_checkpoint(
        edgernn.load(model_path, provider="cpu"), make_checkpoint("gru", (8, 4)), contract=False
    )
    assert [c.name for c in report.checks] == ["signature matches checkpoint"]
    assert not report.passed and "arch 'lstm' vs checkpoint 'gru'" in report.checks[0].detail


def test_a_reference_evaluator_that_cannot_run_is_a_note(lstm, monkeypatch):
    def unavailable(graph, names):
        raise NotImplementedError("no LSTM here")

    monkeypatch.setattr(verify_module, "reference_runner", unavailable)
    model_path, ckpt_path = lstm
    report = verify_checkpoint(edgernn.load(model_path, provider="cpu"), ckpt_path, contract=False)
    note = next(c for c in report.checks if c.name == "reference evaluator")
    assert note.passed and "NotImplementedError: no LSTM here" in note.detail
    assert report.passed


# ---- the command line ------------------------------------------------------------------------
def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_verify_with_checkpoint_prints_a_table(lstm):
    model_path, ckpt_path = lstm
    r = run("verify", str(model_path), "--checkpoint", str(ckpt_path))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["check", "result", "max", "error", "detail"]
    assert any(
        line.startswith("torch vs reference, batch 4") and " pass " in line for line in lines
    )
    assert lines[-1].endswith(f"checks passed against {ckpt_path}")


def test_cli_verify_json_parses(lstm):
    model_path, ckpt_path = lstm
    r = run("verify", str(model_path), "--checkpoint", str(ckpt_path), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["passed"] is True and doc["checkpoint"] == str(ckpt_path)
    assert {"name", "passed", "max_abs_error", "detail"} == set(doc["checks"][0])


def test_cli_verify_against_other_weights_exits_7(lstm, tmp_path):
    model_path, _ = lstm
    other = make_checkpoint(seed=1)
    other_path = save_checkpoint(tmp_path / "other.pt", other.model, other.signature, {}, {})
    r = run("verify", str(model_path), "--checkpoint", str(other_path))
    assert r.exit_code == 7, r.output
    err = r.stderr.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: verification failed:")
        and "torch vs onnxruntime" in err[0]
    )
    assert " FAIL " in r.stdout and "Traceback" not in r.output


def test_cli_verify_missing_checkpoint_exits_5(lstm, tmp_path):
    r = run("verify", str(lstm[0]), "--checkpoint", str(tmp_path / "nope.pt"))
    assert r.exit_code == 5, r.output
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: checkpoint") and "Traceback" not in r.output
