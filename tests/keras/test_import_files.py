"""``edgernn import keras`` as a user meets it: the issue's command with scaling, the stream in
user units, bad files (one line, exit 3) and a run with torch unimportable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="the Keras tests need keras (the test extra)")
pytest.importorskip("h5py", reason="reading Keras files needs h5py (the keras extra)")

from click.testing import CliRunner  # noqa: E402
from keras import layers  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small LSTM forecaster saved as .keras, and its training CSV (temp, humidity)."""
    folder = tmp_path_factory.mktemp("keras")
    model = keras.Sequential(
        [keras.Input((None, 2)), layers.LSTM(8, return_sequences=True), layers.Dense(1)]
    )
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.normal(0, 0.5, tuple(w.shape)).astype(np.float32) for w in model.weights]
    )
    model.save(folder / "model.keras")
    temp = 20 + 5 * np.sin(np.arange(200) / 10)
    hum = 60 + 10 * np.cos(np.arange(200) / 7)
    temp, hum = temp.round(3), hum.round(3)  # as the CSV holds them
    rows = ["temp,humidity", *(f"{t:.3f},{h:.3f}" for t, h in zip(temp, hum))]
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    return folder, model, np.stack([temp, hum], axis=1)


def test_the_issues_command_streams_keras_forecasts_in_user_units(saved):
    folder, model, data = saved
    out = folder / "model.onnx"
    r = CliRunner().invoke(
        main,
        [
            "import",
            "keras",
            str(folder / "model.keras"),
            "--features",
            "temp,humidity",
            "--target",
            "temp",
            "--scaler",
            "minmax",
            "--scale-from",
            str(folder / "train.csv"),
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    sig = edgernn.load(out).signature
    lo, hi = data.min(axis=0), data.max(axis=0)
    assert sig.input_scaler.kind == "minmax"
    assert np.allclose(sig.input_scaler.offset, lo) and np.allclose(sig.input_scaler.scale, hi - lo)
    lines = "".join(json.dumps({"temp": t, "humidity": h}) + "\n" for t, h in data[:40])
    r = CliRunner().invoke(main, ["stream", str(out), "--quiet"], input=lines)
    assert r.exit_code == 0, r.output
    got = [json.loads(line)["forecast"]["temp"] for line in r.output.splitlines() if line]
    scaled = ((data[:40] - lo) / (hi - lo)).astype(np.float32)
    want = model.predict_on_batch(scaled[None])[0, :, 0] * (hi[0] - lo[0]) + lo[0]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-4)
    # two sensors interleaved: the pool batches them, each keeps its own state
    keyed = "".join(
        json.dumps({"sensor": k, "temp": t, "humidity": h}) + "\n"
        for t, h in data[:40]
        for k in ("a", "b")
    )
    r = CliRunner().invoke(main, ["stream", str(out), "--quiet", "--key", "sensor"], input=keyed)
    assert r.exit_code == 0, r.output
    outs = [json.loads(line) for line in r.output.splitlines() if line]
    for k in ("a", "b"):
        mine = [o["forecast"]["temp"] for o in outs if o.get("key") == k]
        assert np.allclose(mine, want, rtol=1e-5, atol=1e-4), k


def test_explicit_scales_and_a_missing_one(saved):
    folder, _, _ = saved
    args = [
        "import",
        "keras",
        str(folder / "model.keras"),
        "-o",
        str(folder / "s.onnx"),
        "--features",
        "temp,humidity",
        "--target",
        "temp",
        "--scaler",
        "standard",
    ]
    r = CliRunner().invoke(main, [*args, "--scale", "temp:20:5,humidity:60:10"])
    assert r.exit_code == 0, r.output
    assert edgernn.load(folder / "s.onnx").signature.target_scaler.scale == (5.0,)
    r = CliRunner().invoke(main, [*args, "--scale", "temp:20:5"])
    assert r.exit_code == 2 and "no scale for humidity" in r.output


def _one_line_exit_3(path, *flags):
    r = subprocess.run(
        [sys.executable, "-m", "edgernn", "import", "keras", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: "), r.stderr
    return r.stderr


def test_bad_files_give_one_line_and_exit_3(saved, tmp_path):
    folder, _, _ = saved
    (tmp_path / "text.keras").write_text("not a model")
    assert "neither a zip nor an HDF5" in _one_line_exit_3(tmp_path / "text.keras")
    with zipfile.ZipFile(folder / "model.keras") as z:
        config = z.read("config.json")
        weights = z.read("model.weights.h5")
    with zipfile.ZipFile(tmp_path / "noweights.keras", "w") as z:
        z.writestr("config.json", config)
    assert "lacks model.weights.h5" in _one_line_exit_3(tmp_path / "noweights.keras")
    with zipfile.ZipFile(tmp_path / "truncated.keras", "w") as z:
        z.writestr("config.json", config)
        z.writestr("model.weights.h5", weights[: len(weights) // 2])
    assert "truncated" in _one_line_exit_3(tmp_path / "truncated.keras")
    conv = keras.Sequential([keras.Input((None, 2)), layers.Conv1D(2, 3, name="edges")])
    conv.save(tmp_path / "conv.keras")
    assert "layer 'edges' (Conv1D) is not supported" in _one_line_exit_3(tmp_path / "conv.keras")
    relu_gru = keras.Sequential(
        [keras.Input((None, 2)), layers.GRU(3, activation="relu", name="g")]
    )
    relu_gru.save(tmp_path / "relu.keras")
    assert "layer 'g' (GRU) uses activation 'relu'" in _one_line_exit_3(tmp_path / "relu.keras")
    a, b = keras.Input((None, 2)), keras.Input((None, 2))
    joined = layers.Concatenate(name="join")([layers.LSTM(2, return_sequences=True)(a), b])
    keras.Model([a, b], layers.Dense(1)(joined)).save(tmp_path / "graph.keras")
    assert "one chain" in _one_line_exit_3(tmp_path / "graph.keras")
    h5 = tmp_path / "legacy.h5"
    keras.Sequential([keras.Input((None, 2)), layers.GRU(3), layers.Dense(1)]).save(h5)
    (tmp_path / "cut.h5").write_bytes(h5.read_bytes()[:3000])
    assert "truncated" in _one_line_exit_3(tmp_path / "cut.h5")


BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "keras", "tensorflow"}:
            raise ImportError(f"{name} is blocked", name=name)
sys.meta_path.insert(0, Block())
"""


def test_import_needs_neither_torch_nor_keras(saved, tmp_path):
    folder, _, _ = saved
    (tmp_path / "sitecustomize.py").write_text(BLOCK)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = str(tmp_path)
    out = tmp_path / "free.onnx"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgernn",
            "import",
            "keras",
            str(folder / "model.keras"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert out.exists() and "wrote" in r.stderr
    (tmp_path / "sitecustomize.py").write_text(
        BLOCK.replace('"tensorflow"', '"tensorflow", "h5py"')
    )
    r = subprocess.run(
        [sys.executable, "-m", "edgernn", "import", "keras", str(folder / "model.keras")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "pip install 'edgernn[keras]'" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
