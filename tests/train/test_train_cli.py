"""``edgernn train forecast`` end to end with CliRunner: outputs, report, checkpoint, errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.errors import ExportError  # noqa: E402
from edgernn.feeds.synth import sensor_signal  # noqa: E402
from edgernn.signature import Scaler, Signature  # noqa: E402
from edgernn.train.forecast import train as forecast_train  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402

N = 400
TINY = [
    "--window",
    "8",
    "--hidden",
    "6,4",
    "--epochs",
    "2",
    "--batch-size",
    "64",
    "--quiet",
    "--no-export",
]


@pytest.fixture(scope="module")
def sensors(tmp_path_factory) -> Path:
    s = sensor_signal(N, seed=5)
    path = tmp_path_factory.mktemp("data") / "sensors.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "temp", "humidity"])
        w.writerows(
            [[i, f"{t:.4f}", f"{h:.4f}"] for i, (t, h) in enumerate(zip(s["temp"], s["humidity"]))]
        )
    return path


def train(*args):
    return CliRunner().invoke(main, ["train", "forecast", *map(str, args)])


def test_forecast_writes_checkpoint_and_report(sensors, tmp_path):
    out = tmp_path / "run"
    r = train(
        "--data", sensors, "--features", "temp,humidity", "--target", "temp", "--out", out, *TINY
    )
    assert r.exit_code == 0, r.output
    assert "naive last value" in r.stdout and "Traceback" not in r.output
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "report.json", "report.png"}
    rep = json.loads((out / "report.json").read_text())
    for part in ("train", "val", "test"):
        assert set(rep["metrics"][part]) == {"mse", "mae", "n", "per_target"}
        assert set(rep["metrics"][part]["per_target"]) == {"temp"}
    assert rep["data"]["rows"] == {"train": 280, "val": 60, "test": 60}
    assert rep["training"]["epochs_run"] == 2 and rep["files"]["onnx"] is None


def test_naive_baseline_is_on_the_same_test_targets(sensors, tmp_path):
    r = train("--data", sensors, "--features", "temp,humidity", "--out", tmp_path, "--json", *TINY)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    temp = np.loadtxt(sensors, delimiter=",", skiprows=1, usecols=1)
    # every test row (the last 15%), each forecast from the row before it, as streaming does
    current, actual = temp[N - 61 : -1], temp[N - 60 :]
    naive = rep["baseline"]["naive_last_value"]["test"]
    assert naive["n"] == rep["metrics"]["test"]["n"] == len(actual) == 60
    assert naive["mse"] == pytest.approx(np.mean((actual - current) ** 2), rel=1e-6)
    assert naive["mae"] == pytest.approx(np.mean(np.abs(actual - current)), rel=1e-6)


def test_checkpoint_signature_fields(sensors, tmp_path):
    r = train(
        "--data",
        sensors,
        "--features",
        "temp,humidity",
        "--target",
        "humidity",
        "--scaler",
        "minmax",
        "--anomaly-threshold",
        "3.5",
        "--seed",
        "4",
        "--out",
        tmp_path,
        *TINY,
    )
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    sig = ck.signature
    assert set(sig) <= {f.name for f in dataclasses.fields(Signature)}
    assert (sig["task"], sig["arch"], sig["layers"], sig["window"]) == (
        "forecast",
        "lstm",
        (6, 4),
        8,
    )
    assert sig["features"] == ("temp", "humidity") and sig["targets"] == ("humidity",)
    assert sig["anomaly_threshold"] == 3.5 and ck.target_scaler.kind == "minmax"
    assert len(ck.input_scaler.offset) == 2 and isinstance(ck.target_scaler, Scaler)
    prov = sig["provenance"]
    assert {"data", "rows", "metrics", "versions", "created", "seed"} <= set(prov) and prov[
        "seed"
    ] == 4
    assert prov["data"]["kind"] == "csv" and set(prov["versions"]) >= {"torch", "numpy", "edgernn"}
    sx = ck.input_scaler
    train_rows = np.loadtxt(sensors, delimiter=",", skiprows=1, usecols=(1, 2))[:280]
    np.testing.assert_allclose(sx.offset, train_rows.min(axis=0), rtol=1e-6)


def test_same_seed_same_report(sensors, tmp_path):
    reports = []
    for name in ("a", "b"):
        r = train(
            "--data", sensors, "--arch", "gru", "--seed", "3", "--out", tmp_path / name, *TINY
        )
        assert r.exit_code == 0, r.output
        reports.append(json.loads((tmp_path / name / "report.json").read_text()))
    for field in ("metrics", "baseline", "training"):
        assert reports[0][field] == reports[1][field]


def test_keys_timestamps_and_npy(tmp_path):
    rows = [
        [site, f"2024-01-01T{t // 60:02d}:{t % 60:02d}:00", t, 2.0 * t]
        for t in range(100)
        for site in ("x", "y")
    ]
    rows = [
        rows[i] for i in np.random.default_rng(1).permutation(len(rows))
    ]  # --timestamp sorts each series
    data = tmp_path / "multi.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([["site", "ts", "a", "b"], *rows])
    r = train(
        "--data",
        data,
        "--key",
        "site",
        "--timestamp",
        "ts",
        "--out",
        tmp_path / "k",
        "--json",
        *TINY,
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["features"] == ["a", "b"] and rep["targets"] == ["a"] and rep["data"]["series"] == 2
    assert rep["baseline"]["naive_last_value"]["test"]["mae"] == pytest.approx(1.0)
    np.save(tmp_path / "d.npy", np.stack([np.arange(200.0), np.sin(np.arange(200.0))], axis=1))
    r = train(
        "--data",
        tmp_path / "d.npy",
        "--columns",
        "t,s",
        "--target",
        "s",
        "--out",
        tmp_path / "n",
        *TINY,
    )
    assert r.exit_code == 0, r.output


def test_synth_source(tmp_path):
    r = train("--data", "synth:sensor?n=400&seed=2", "--out", tmp_path, "--json", *TINY)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["data"]["source"] == {
        "kind": "synth",
        "name": "sensor",
        "n": 400,
        "seed": 2,
    }


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--data", "missing.csv"], 5, "data file 'missing.csv' does not exist"),
        (
            ["--features", "temp,pressure"],
            5,
            "no column 'pressure' (from --features); its columns are: time, temp, humidity",
        ),
        (["--key", "site"], 5, "no column 'site' (from --key)"),
        (["--hidden", "64,x"], 2, "--hidden '64,x': 'x' is not a positive integer"),
        (["--hidden", "0"], 2, "--hidden '0': '0' is not a positive integer"),
        (
            ["--arch", "transformer"],
            2,
            "--arch 'transformer' is unknown; choose one of rnn, lstm, gru",
        ),
        (["--train-mode", "stateful", "--bptt", "300"], 5, "the train split needs 301 consecutive"),
        (["--scaler", "robust"], 2, "--scaler 'robust' is unknown"),
    ],
)
def test_errors_are_one_line(sensors, tmp_path, args, code, message):
    base = ["--data", sensors, "--out", tmp_path]
    r = train(*base, *TINY, *args)  # later options win
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.output


def test_bad_cell_error_names_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("temp,humidity\n" + "".join(f"{i},{i}\n" for i in range(50)) + "20.1,wet\n")
    r = train("--data", path, "--out", tmp_path, *TINY)
    assert r.exit_code == 5
    assert r.stderr.strip() == (
        f"error: {path} line 52, column 'humidity': 'wet' is not a finite number; "
        "training data must be clean, so fix or remove that row"
    )


def fake_export(monkeypatch, fn):
    monkeypatch.setattr(forecast_train, "export_checkpoint", fn)


def test_export_by_default(sensors, tmp_path, monkeypatch):
    calls = []

    real = forecast_train.export_checkpoint

    def export_checkpoint(ckpt, out):
        calls.append((Path(ckpt), Path(out)))
        return real(ckpt, out)

    fake_export(monkeypatch, export_checkpoint)
    args = [a for a in TINY if a != "--no-export"]
    r = train("--data", sensors, "--out", tmp_path, *args)
    assert r.exit_code == 0, r.output
    assert calls == [(tmp_path / "checkpoint.pt", tmp_path / "model.onnx")]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["files"]["onnx"] == "model.onnx" and rep["export"]["parity"]["max_abs_error"] <= 1e-5
    assert rep["evaluated_with"].startswith("the exported graph")


def test_export_failure_exit_code(sensors, tmp_path, monkeypatch):
    def export_checkpoint(ckpt, out):
        raise ExportError("parity 0.3 > 1e-4 at (batch 2, length 7); nothing was written")

    fake_export(monkeypatch, export_checkpoint)
    r = train("--data", sensors, "--out", tmp_path, *[a for a in TINY if a != "--no-export"])
    assert r.exit_code == 7 and r.stderr.strip().startswith("error: parity 0.3")
    assert "parity 0.3" in json.loads((tmp_path / "report.json").read_text())["export"]["error"]


def test_cli_does_not_import_torch():
    code = (
        "import sys; from edgernn.cli import main; "
        "assert 'torch' not in sys.modules and 'edgernn.train' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_matplotlib_the_plot_is_skipped_and_said(sensors, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    r = train("--data", sensors, "--out", tmp_path, *TINY)
    assert r.exit_code == 0, r.output
    assert (
        not (tmp_path / "report.png").exists() and "note: matplotlib is not installed" in r.stdout
    )
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["files"]["report_png"] is None and "matplotlib" in rep["notes"][0]
