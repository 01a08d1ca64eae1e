"""The state contract, checked with the runtime alone; `edgernn verify` without a checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgernn
from edgernn.checks import Check, VerifyReport, check_contract, user_inputs
from edgernn.cli import main, verify_cmd

DATA = Path(__file__).parent.parent / "data"
TINY = DATA / "tiny-lstm.onnx"  # rebuilt by tests/data/make_tiny.py
CONTRACT = [
    "shapes",
    "steps == chunk",
    "chunks 1/3/7",
    "reset == fresh",
    "batch independence",
    "snapshot/restore",
]
MODELS = [TINY] + ([edgernn.default_model_path()] if edgernn.default_model_path().is_file() else [])


@pytest.fixture(params=MODELS, ids=lambda p: p.name)
def model(request) -> edgernn.Model:
    return edgernn.load(request.param, provider="cpu")


def test_every_contract_check_passes(model):
    checks = check_contract(model)
    assert [c.name for c in checks] == CONTRACT
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    by_name = {c.name: c for c in checks}
    assert (
        by_name["reset == fresh"].max_abs_error == 0.0
        and by_name["snapshot/restore"].max_abs_error == 0.0
    )
    assert all(c.max_abs_error <= 1e-5 for c in checks if c.max_abs_error is not None)


def test_inputs_are_in_user_units_from_the_input_scaler(model):
    rows = user_inputs(model, 4000, np.random.default_rng(0))  # (T, F)
    scaler = model.signature.input_scaler
    assert rows.shape == (4000, len(model.signature.features)) and rows.dtype == np.float32
    np.testing.assert_allclose(rows.mean(axis=0), scaler.offset, atol=0.1 * max(scaler.scale))
    np.testing.assert_allclose(rows.std(axis=0), scaler.scale, rtol=0.1)


def test_a_stream_disturbed_by_its_batch_neighbour_is_caught():
    model = edgernn.load(TINY, provider="cpu")
    clean = model.run

    def leaky(x, states):  # batch > 1 shifts every output: streams are not independent
        y, new = clean(x, states)
        return (y + np.float32(1e-3) if x.shape[0] > 1 else y), new

    model.run = leaky
    by_name = {c.name: c for c in check_contract(model)}
    assert (
        not by_name["batch independence"].passed
        and by_name["batch independence"].max_abs_error > 5e-4
    )
    assert "off by" in by_name["batch independence"].detail
    assert by_name["steps == chunk"].passed and by_name["snapshot/restore"].passed


def test_bit_identical_checks_do_not_forgive_tiny_drift():
    model = edgernn.load(TINY, provider="cpu")
    clean, calls = model.run, [0]

    def drifting(x, states):  # 1e-7 more on every call: within tolerance, but not bit-identical
        calls[0] += 1
        y, new = clean(x, states)
        return y + np.float32(1e-7 * calls[0]), new

    model.run = drifting
    by_name = {c.name: c for c in check_contract(model)}
    assert not by_name["reset == fresh"].passed and not by_name["snapshot/restore"].passed
    assert by_name["batch independence"].passed


def test_a_check_serialises_to_json():
    check = Check("steps == chunk", False, float("inf"), "shapes differ")
    assert json.loads(json.dumps(check.to_dict())) == {
        "name": "steps == chunk",
        "passed": False,
        "max_abs_error": None,
        "detail": "shapes differ",
    }
    report = VerifyReport("m.onnx", [check, Check("shapes", True, None, "ok")])
    assert not report.passed and report.failed == [check] and report.to_dict()["checkpoint"] is None


# ---- the command line ------------------------------------------------------------------------
def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_verify_prints_a_table_and_exits_0():
    r = run("verify", str(TINY))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["check", "result", "max", "error", "detail"]
    assert [line.split("  ")[0].strip() for line in lines[1:-1]] == CONTRACT
    assert lines[-1] == f"{TINY}: all 6 checks passed"


def test_cli_verify_json_parses():
    r = run("verify", str(TINY), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (
        doc["passed"] is True
        and doc["checkpoint"] is None
        and [c["name"] for c in doc["checks"]] == CONTRACT
    )


def test_cli_verify_failing_check_exits_7_with_one_line(monkeypatch):
    failing = [Check("steps == chunk", False, 0.5, "50 single steps vs one chunk: off by 5.0e-01")]
    monkeypatch.setattr(verify_cmd, "check_contract", lambda model, tolerance: failing)
    r = run("verify", str(TINY))
    assert r.exit_code == 7, r.output
    err = r.stderr.strip().splitlines()
    assert err == ["error: verification failed: 1 of 1 checks did not pass (steps == chunk)"]
    assert " FAIL " in r.stdout and "Traceback" not in r.output


@pytest.mark.parametrize(
    "path,words",
    [("missing.onnx", "does not exist"), (str(DATA / "no-signature.onnx"), "no edgernn.signature")],
)
def test_cli_verify_bad_model_exits_3(path, words):
    r = run("verify", path)
    assert r.exit_code == 3, r.output
    err = r.stderr.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: ")
        and words in err[0]
        and "Traceback" not in r.output
    )


def test_cli_verify_rejects_an_unknown_provider():
    r = run("verify", str(TINY), "--provider", "tpu")
    assert r.exit_code == 2 and "Traceback" not in r.output


PROBE = """
import sys
from edgernn.cli import main
main(["verify", {path!r}, "--json"], standalone_mode=False)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx", "onnxscript"))
print("HEAVY", heavy, file=sys.stderr)
"""


def test_verify_without_a_checkpoint_loads_neither_torch_nor_onnx():
    r = subprocess.run(
        [sys.executable, "-c", PROBE.format(path=str(TINY))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["passed"] is True
    assert r.stderr.strip().splitlines()[-1] == "HEAVY []"
