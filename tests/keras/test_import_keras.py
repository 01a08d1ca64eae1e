"""``edgernn import keras``: real Keras 3 models (torch backend, no TensorFlow), saved as
.keras and legacy .h5, imported and compared with Keras itself step by step over long
stateful runs with resets, for every layer type the importer takes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras", reason="the Keras tests need keras (the test extra)")
pytest.importorskip("h5py", reason="reading Keras files needs h5py (the keras extra)")

from click.testing import CliRunner  # noqa: E402
from keras import layers  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.train.keras.against import verify_keras  # noqa: E402

ERRORS: dict[str, float] = {}  # per model: the worst relative error against Keras


def randomise(model, seed: int = 0) -> None:
    """Weights far from Keras' initialisers (zero biases would hide a gate-order mistake)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        value = rng.normal(0.0, 0.6, tuple(w.shape))
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        weights.append(value.astype(np.float32))
    model.set_weights(weights)


def imported(tmp_path, model, name: str, *flags: str, fmt: str = "keras"):
    """Save ``model``, import it with the CLI, load the graph: (edgernn model, saved path)."""
    randomise(model)
    path = tmp_path / f"{name}.{fmt}"
    model.save(path)
    out = tmp_path / f"{name}.onnx"
    r = CliRunner().invoke(main, ["import", "keras", str(path), "-o", str(out), *flags])
    assert r.exit_code == 0, r.output
    return edgernn.load(out, provider="cpu"), path


def seq(*parts):
    return keras.Sequential(list(parts))


MODELS = {
    "SimpleRNN": lambda: seq(
        keras.Input((None, 2)),
        layers.SimpleRNN(5, return_sequences=True),
        layers.SimpleRNN(4),
        layers.Dense(1),
    ),
    "LSTM stacked + Dense relu + Dropout": lambda: seq(
        keras.Input((None, 3)),
        layers.LSTM(6, return_sequences=True),
        layers.LSTM(5, return_sequences=True),
        layers.Dense(4, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(2),
    ),
    "GRU reset_after=True": lambda: seq(
        keras.Input((None, 2)), layers.GRU(6, reset_after=True), layers.Dense(1, activation="tanh")
    ),
    "GRU reset_after=False": lambda: seq(
        keras.Input((None, 2)), layers.GRU(6, reset_after=False), layers.Dense(1)
    ),
    "BatchNormalization": lambda: seq(
        keras.Input((None, 2)),
        layers.LSTM(4, return_sequences=True),
        layers.BatchNormalization(),
        layers.GRU(3),
        layers.Dense(1),
    ),
    "stateful=True": lambda: seq(
        keras.Input(batch_shape=(1, 1, 2)),
        layers.LSTM(6, stateful=True, return_sequences=True),
        layers.Dense(1),
    ),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_each_layer_type_matches_keras_over_long_stateful_runs(tmp_path, name):
    m, path = imported(tmp_path, MODELS[name](), "m")
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    assert [c.name for c in report.checks] == ["keras sequence", "keras stateful steps"]
    ERRORS[name] = max(c.max_abs_error for c in report.checks)


def test_a_stateful_keras_model_stepped_by_predict_on_batch_equals_the_stream(tmp_path):
    """The Keras lesson: stateful=True, one sample per predict_on_batch, reset_states()."""
    model = MODELS["stateful=True"]()
    m, _ = imported(tmp_path, model, "s")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    stream = m.stream()
    for t in range(300):
        if t == 150:
            model.layers[0].reset_states()
            stream.reset()
        want = float(model.predict_on_batch(x[None, t : t + 1])[0, 0, 0])
        got = stream.step(x[t].tolist()).forecast["y0"]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5), t


def test_classifiers_softmax_and_sigmoid_heads(tmp_path):
    softmax = seq(keras.Input((None, 2)), layers.GRU(5), layers.Dense(3, activation="softmax"))
    m, path = imported(tmp_path, softmax, "c", "--labels", "idle,walk,run")
    assert m.signature.task == "classify" and m.signature.labels == ("idle", "walk", "run")
    assert verify_keras(m, path).passed
    binary = seq(keras.Input((None, 2)), layers.LSTM(4), layers.Dense(1, activation="sigmoid"))
    m, path = imported(tmp_path, binary, "b", "--labels", "ok,fault")
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    ERRORS["classifier heads"] = max(c.max_abs_error for c in report.checks)


def test_char_generator_with_embedding_and_vocab_file(tmp_path):
    vocab = ["<unk>", " ", "a", "b", "c", "\n"]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    model = seq(
        keras.Input((None,), dtype="int32"),
        layers.Embedding(len(vocab), 4),
        layers.LSTM(8),
        layers.Dense(len(vocab), activation="softmax"),
    )
    m, path = imported(tmp_path, model, "g", "--vocab", str(tmp_path / "vocab.json"))
    assert m.signature.task == "generate" and m.signature.tokenizer.vocab == tuple(vocab)
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    ERRORS["Embedding"] = max(c.max_abs_error for c in report.checks)
    r = CliRunner().invoke(
        main, ["generate", str(tmp_path / "g.onnx"), "--prompt", "ab", "-n", "5"]
    )
    assert r.exit_code == 0, r.output


def test_bidirectional_is_a_window_model(tmp_path):
    model = seq(keras.Input((12, 2)), layers.Bidirectional(layers.LSTM(4)), layers.Dense(1))
    m, path = imported(tmp_path, model, "w")
    assert not m.signature.causal and m.signature.window == 12 and m.signature.states == ()
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    ERRORS["Bidirectional"] = report.checks[0].max_abs_error
    rows = np.random.default_rng(4).normal(size=(15, 2)).astype(np.float32)
    got = [r.forecast for r in m.window_stream().steps(rows)]
    assert got[10] is None and got[11] is not None  # 12 rows fill the window
    want = model.predict_on_batch(rows[None, -12:])[0, 0]
    assert got[-1]["y0"] == pytest.approx(float(want), rel=1e-5, abs=1e-6)


def test_functional_chain_with_nested_sequential_and_same_class_layers(tmp_path):
    """Weights are stored by class name (lstm, lstm_1, ...), not by the user's layer names."""
    inner = seq(layers.Dense(4, activation="elu", name="zz"), layers.Dense(2, name="aa"))
    x = keras.Input((None, 2))
    h = layers.LSTM(5, return_sequences=True, name="second_named_first")(x)
    h = layers.LSTM(3, return_sequences=True, name="a_first_by_name")(h)
    model = keras.Model(x, inner(h))
    m, path = imported(tmp_path, model, "f")
    assert m.signature.layers == (5, 3)
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    ERRORS["Functional + nested Sequential"] = max(c.max_abs_error for c in report.checks)


def test_legacy_h5_whole_model(tmp_path):
    model = seq(
        keras.Input((None, 2)),
        layers.GRU(5, return_sequences=True),
        layers.LSTM(4),
        layers.Dense(1),
    )
    m, path = imported(tmp_path, model, "legacy", fmt="h5")
    report = verify_keras(m, path)
    assert report.passed, [c.detail for c in report.checks]
    ERRORS["legacy .h5"] = max(c.max_abs_error for c in report.checks)


def test_verify_command_against_keras(tmp_path):
    model = seq(keras.Input((None, 2)), layers.LSTM(4), layers.Dense(1))
    _, path = imported(tmp_path, model, "v")
    r = CliRunner().invoke(main, ["verify", str(tmp_path / "v.onnx"), "--keras", str(path)])
    assert r.exit_code == 0, r.output
    assert "keras stateful steps" in r.output and "all 2 checks passed" in r.output
    (tmp_path / "not.keras").write_text("text")
    r = CliRunner().invoke(
        main, ["verify", str(tmp_path / "v.onnx"), "--keras", str(tmp_path / "not.keras")]
    )
    assert r.exit_code == 3 and "Keras cannot load" in r.output


def test_errors_table():
    """Per layer type, the worst error against Keras (printed with -s; kept for the report)."""
    print(json.dumps({k: f"{v:.1e}" for k, v in ERRORS.items()}, indent=1))
    assert all(v <= 1e-5 for v in ERRORS.values())
