"""Every architecture the project supports: built, exported with verified parity, run by the
runtime.

``TESTED`` must name every entry of ``edgernn.train.forecast.model.ARCHITECTURES`` (the guard test
fails otherwise, and when ``train.forecast.model`` gains a cell, a norm or a config option no
entry uses).
Causal models are streamed (single steps == one chunk); window models run in a ``WindowStream``.
"""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402

import edgernn  # noqa: E402
from edgernn.checks import check_contract  # noqa: E402
from edgernn.errors import UsageError  # noqa: E402
from edgernn.train.cells import CELLS  # noqa: E402
from edgernn.train.checkpoint import Checkpoint  # noqa: E402
from edgernn.train.export.verify import verify_checkpoint  # noqa: E402
from edgernn.train.forecast import config as train_config  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.export import export_model  # noqa: E402
from edgernn.train.forecast.model import ARCHITECTURES, NORMS, Forecaster, ForecasterConfig  # noqa: E402
from edgernn.train.forecast.train import train_forecast  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402

# name (as in ARCHITECTURES) -> ForecasterConfig fields used here (small sizes, same structure)
TESTED = {
    "rnn": {"arch": "rnn", "hidden": (8, 4)},
    "lstm": {"arch": "lstm", "hidden": (8, 4)},
    "gru": {"arch": "gru", "hidden": (8, 4)},
    "gru-bn": {"arch": "gru", "norm": "batch", "hidden": (8, 4)},
    "lstm-deep": {"arch": "lstm", "hidden": (32, 16, 8)},
    "bilstm": {"arch": "lstm", "bidirectional": True, "hidden": (8, 4)},
    "lstm-attn": {"arch": "lstm", "attention": True, "hidden": (8, 4)},
    "lstm-highway": {
        "arch": "lstm",
        "lags": (1, 2, 12, 13),
        "target_cols": (0,),
        "delta": True,
        "hidden": (8, 4),
    },
    "linear": {"arch": "linear", "lags": (1, 2, 12, 13), "target_cols": (0,), "hidden": ()},
}
# every ForecasterConfig field; a new one is a new architecture option: add it to ARCHITECTURES
# and TESTED
KNOWN_FIELDS = {
    "arch",
    "n_features",
    "n_targets",
    "hidden",
    "dropout",
    "norm",
    "bidirectional",
    "attention",
    "lags",
    "target_cols",
    "delta",
}
WINDOW = 12
SIGNATURE = {
    "task": "forecast",
    "features": ["temp", "humidity"],
    "targets": ["temp"],
    "input_scaler": {"kind": "standard", "offset": [20.0, 60.0], "scale": [3.0, 5.0]},
    "target_scaler": {"kind": "standard", "offset": [20.0], "scale": [3.0]},
    "window": WINDOW,
    "anomaly_threshold": 4.0,
    "provenance": {"data": "random"},
}


def build(name: str, seed: int = 0) -> Checkpoint:
    """Random weights; BatchNorm with random inference statistics and affine (not the identity)."""
    torch.manual_seed(seed)
    fields = TESTED[name]
    model = Forecaster(ForecasterConfig(n_features=2, n_targets=1, **fields)).eval()
    for bn in model.norms or ():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.normal_()
        bn.bias.data.normal_()
    signature = {**SIGNATURE, "arch": fields["arch"], "layers": list(fields["hidden"])}
    return Checkpoint(model, signature, {}, {})


def user_rows(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.array([20.0, 60.0]) + np.array([3.0, 5.0]) * rng.standard_normal((n, 2))).astype(
        np.float32
    )


def run_as_its_nature_allows(model: edgernn.Model, net: torch.nn.Module | None = None) -> None:
    """Causal: single steps == one chunk (and the whole state contract). Window: WindowStream
    forecasts == the graph on each window (== PyTorch on that window when ``net`` is given)."""
    sig = model.signature
    checks = check_contract(model, steps=30)
    assert all(c.passed for c in checks), [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    rows = user_rows(sig.window + 10 if not sig.causal else 30)
    if sig.causal:
        one = model.stream()
        stepped = [one.step(r).forecast["temp"] for r in rows]
        chunk = [r.forecast["temp"] for r in model.stream().steps(rows)]
        np.testing.assert_allclose(stepped, chunk, atol=3e-5)
        with pytest.raises(UsageError):
            model.window_stream(window=0)
        return
    with pytest.raises(UsageError, match=r"window_stream\(\)"):
        model.stream()
    results = model.window_stream().steps(rows)
    assert [r.warming_up for r in results] == [True] * (sig.window - 1) + [False] * 11
    if net is not None:
        windows = np.stack([rows[i : i + sig.window] for i in range(11)])  # (11, W, F) user units
        with torch.no_grad():
            y = net(torch.from_numpy(sig.input_scaler.transform(windows)))[0].numpy()  # (11, 1, 1)
        want = sig.target_scaler.inverse(y[:, -1])[:, 0]
        got = [r.forecast["temp"] for r in results[sig.window - 1 :]]
        np.testing.assert_allclose(got, want, atol=3e-5)


# ---- the guard ----------------------------------------------------------------------------------
def test_every_supported_architecture_is_tested():
    assert set(TESTED) == set(ARCHITECTURES), (
        "add the new architecture to TESTED (or remove the stale entry)"
    )
    for name, fields in ARCHITECTURES.items():
        ForecasterConfig(**fields)  # each registry entry is a valid config
        keep = {k: v for k, v in fields.items() if k != "hidden"}
        assert {k: v for k, v in TESTED[name].items() if k != "hidden"} == keep, name
    used = [ForecasterConfig(**f) for f in ARCHITECTURES.values()]
    assert {c.arch for c in used} == {*CELLS, "linear"}, (
        "a cell in train.models.CELLS has no ARCHITECTURES entry"
    )
    assert {c.norm for c in used} == set(NORMS), (
        "a norm in train.models.NORMS has no ARCHITECTURES entry"
    )
    assert {c.bidirectional for c in used} == {False, True}
    assert any(len(c.hidden) >= 3 for c in used), "the deep stacked LSTM is gone from ARCHITECTURES"
    assert {c.attention for c in used} == {False, True}, (
        "attention pooling is gone from ARCHITECTURES"
    )
    fields = {f.name for f in dataclasses.fields(ForecasterConfig)}
    assert fields == KNOWN_FIELDS, (
        f"ForecasterConfig gained/lost options {fields ^ KNOWN_FIELDS}: register and test them"
    )
    # the CLI's torch-free validation knows the same cells and norms
    assert set(train_config.ARCHS) == {*CELLS, "linear"} and set(train_config.NORMS) == set(NORMS)
    assert {c.delta for c in used} == {False, True} and any(c.lags for c in used)


# ---- each architecture: export with verified parity, load, run ---------------------------------
@pytest.mark.parametrize("name", list(TESTED))
def test_architecture_exports_with_parity_and_runs_in_the_runtime(tmp_path, name):
    ckpt = build(name)
    out = tmp_path / f"{name}.onnx"
    sig = export_model(ckpt, out)
    assert sig.parity["max_abs_error"] <= 1e-5 and sig.parity["reference_max_abs_error"] <= 1e-5
    causal = not TESTED[name].get("bidirectional", False)
    assert sig.causal is causal and sig.window == WINDOW
    if causal:
        per_layer = 2 if TESTED[name]["arch"] == "lstm" else 1
        pool = 3 if TESTED[name].get("attention") else 0  # the online softmax: m, s, acc
        ring = 2 if TESTED[name].get("lags") else 0  # the highway's lags and its "seen" flag
        assert len(sig.states) == per_layer * len(TESTED[name]["hidden"]) + pool + ring
        assert "step by step" in sig.parity["method"]
    else:
        assert sig.states == () and sig.outputs[0].shape == ("batch", 1, 1)
        assert "whole window" in sig.parity["method"]
    model = edgernn.load(out, provider="cpu")
    assert model.signature == sig
    run_as_its_nature_allows(model, ckpt.model)
    report = verify_checkpoint(model, ckpt)  # what `edgernn verify --checkpoint` runs
    assert report.passed, [c for c in report.checks if not c.passed]


def test_gru_bn_graph_keeps_batch_normalization(tmp_path):
    import onnx

    path = tmp_path / "gru-bn.onnx"
    export_model(build("gru-bn"), path)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"GRU", "BatchNormalization"} <= ops


def test_a_bidirectional_forecaster_refuses_states_and_forecasts_once_per_window():
    net = build("bilstm").model
    x = torch.randn(3, WINDOW, 2)
    (y,) = net(x)
    assert y.shape == (3, 1, 1) and net.state_shapes() == [] and not net.causal
    with pytest.raises(ValueError, match="no state"):
        net(x, torch.zeros(1, 3, 8))


def test_train_config_validates_norm_and_bidirectional():
    cfg = TrainConfig(data="synth:sensor", arch="gru", norm="batch", hidden=(16, 8))
    assert cfg.to_dict()["norm"] == "batch" and cfg.to_dict()["bidirectional"] is False
    with pytest.raises(UsageError, match="--norm 'layer' is unknown"):
        TrainConfig(data="synth:sensor", norm="layer")
    with pytest.raises(UsageError, match="at least two --hidden"):
        TrainConfig(data="synth:sensor", norm="batch", hidden=(16,))


# ---- train -> export -> runtime, one epoch per new architecture ----------------------------------
@pytest.mark.parametrize(
    "fields",
    [
        {"arch": "gru", "norm": "batch", "hidden": (16, 8)},
        {"arch": "lstm", "hidden": (32, 16, 8)},
        {"arch": "lstm", "bidirectional": True, "hidden": (16, 8)},
        {"arch": "lstm", "attention": True, "hidden": (16, 8)},
    ],
    ids=["gru-bn", "lstm-deep", "bilstm", "lstm-attn"],
)
def test_train_export_and_run_each_new_architecture(tmp_path, fields):
    cfg = TrainConfig(
        data="synth:sensor?n=1500", window=20, epochs=1, out=tmp_path / "run", quiet=True, **fields
    )
    result = train_forecast(cfg)
    assert result.files["onnx"].exists()
    assert result.report["export"]["parity"]["max_abs_error"] <= 1e-5
    assert np.isfinite(result.report["metrics"]["test"]["mse"])
    ckpt = load_checkpoint(result.files["checkpoint"])
    assert ckpt.model.config.norm == fields.get("norm", "none")
    assert ckpt.model.config.bidirectional is fields.get("bidirectional", False)
    assert ckpt.model.config.attention is fields.get("attention", False)
    model = edgernn.load(result.files["onnx"], provider="cpu")
    assert (
        model.signature.causal is not fields.get("bidirectional", False)
        and model.signature.window == 20
    )
    run_as_its_nature_allows(model, ckpt.model.eval())


@pytest.mark.parametrize(
    "flags",
    [
        ["--arch", "gru", "--norm", "batch", "--hidden", "8,4"],
        ["--arch", "lstm", "--bidirectional", "--hidden", "8"],
    ],
)
def test_new_architectures_are_reachable_from_the_cli(tmp_path, flags):
    from click.testing import CliRunner

    from edgernn.cli import main

    r = CliRunner().invoke(
        main,
        [
            "train",
            "forecast",
            "--data",
            "synth:sensor?n=600",
            "--window",
            "10",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
            *flags,
        ],
    )
    assert r.exit_code == 0, r.output
    sig = edgernn.load(tmp_path / "run" / "model.onnx", provider="cpu").signature
    assert sig.causal is ("--bidirectional" not in flags)
