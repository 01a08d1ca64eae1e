"""LSTM + attention pooling: the online softmax kept as state equals attention over steps 1..t.

The property users rely on: whatever the chunking of a stream, the output after step t is the
head applied to softmax-attention over the hidden states of steps 1..t, and the exported graph
in the runtime does the same, for forecasters and classifiers, over long streams too.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import edgernn  # noqa: E402
from edgernn.errors import UsageError  # noqa: E402
from edgernn.tasks.classify import ClassifierStream  # noqa: E402
from edgernn.train.attention import AttentionPool  # noqa: E402
from edgernn.train.checkpoint import Checkpoint  # noqa: E402
from edgernn.train.classify.train import run_classify  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.export import export_model  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402


def attention_over_prefix(pool: AttentionPool, h: torch.Tensor, t: int) -> torch.Tensor:
    """The textbook formula: softmax over the scores of steps 1..t, weighted sum of h. (B, H)"""
    w = torch.softmax(pool.score(h[:, : t + 1]), dim=1)  # (B, t+1, 1)
    return (w * h[:, : t + 1]).sum(dim=1)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    cuts=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    seed=st.integers(0, 999),
    scale=st.sampled_from([0.1, 1.0, 8.0]),
)
def test_pooled_output_after_each_step_is_attention_over_the_prefix(batch, cuts, seed, scale):
    torch.manual_seed(seed)
    pool = AttentionPool(5)
    with torch.no_grad():
        pool.v.weight.mul_(scale)  # sharp and flat attention alike
        h = torch.randn(batch, sum(cuts), 5)  # (B, T, H)
        state, outs, t = pool.initial_state(batch), [], 0
        for c in cuts:  # the stream arrives in chunks of any size
            out, *state = pool(h[:, t : t + c], *state)
            outs.append(out)
            t += c
        got = torch.cat(outs, dim=1)  # (B, T, H)
        for step in range(t):
            torch.testing.assert_close(
                got[:, step], attention_over_prefix(pool, h, step), atol=2e-6, rtol=1e-5
            )


def test_a_zero_state_is_a_fresh_stream_and_the_state_stays_bounded():
    torch.manual_seed(0)
    pool = AttentionPool(3)
    h = torch.rand(1, 4000, 3)  # (B, T, H), long: the normaliser's log grows like log(T)
    with torch.no_grad():
        out, seen, lse, pooled = pool(h, *pool.initial_state(1))
        again, *_ = pool(h[:, :10], *pool.initial_state(1))
    torch.testing.assert_close(again, out[:, :10])
    assert (
        seen.item() == 1.0 and abs(lse.item()) < 20 and pooled.abs().max() <= 1.0
    )  # no sum that grows with T


def test_attention_does_not_combine_with_bidirectional_layers():
    with pytest.raises(ValueError, match="causally"):
        ForecasterConfig(bidirectional=True, attention=True)
    with pytest.raises(UsageError, match="--attention .* --bidirectional"):
        TrainConfig(data="synth:sensor", attention=True, bidirectional=True)


def test_exported_forecaster_streams_attention_over_a_long_run(tmp_path):
    """The runtime, stepped one sample at a time for 3000 steps, matches PyTorch's full sequence."""
    torch.manual_seed(3)
    net = Forecaster(
        ForecasterConfig(arch="lstm", n_features=2, hidden=(16, 8), attention=True)
    ).eval()
    signature = {
        "task": "forecast",
        "arch": "lstm",
        "layers": [16, 8],
        "features": ["a", "b"],
        "targets": ["a"],
        "input_scaler": {"kind": "standard", "offset": [0.0, 0.0], "scale": [1.0, 1.0]},
        "target_scaler": {"kind": "standard", "offset": [0.0], "scale": [1.0]},
        "window": 20,
        "anomaly_threshold": 4.0,
        "provenance": {"data": "random"},
    }
    sig = export_model(Checkpoint(net, signature, {}, {}), tmp_path / "attn.onnx")
    assert [s.shape for s in sig.states[-3:]] == [(1, "batch", 1), (1, "batch", 1), (1, "batch", 8)]
    x = np.random.default_rng(0).standard_normal((3000, 2)).astype(np.float32)
    stream = edgernn.load(tmp_path / "attn.onnx", provider="cpu").stream()
    got = np.array([stream.step(row).forecast["a"] for row in x])
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None])[0][0, :, 0].numpy()
    assert np.max(np.abs(got - want)) <= 1e-5


def test_train_forecast_with_attention_from_the_cli(tmp_path):
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
            "--attention",
            "--hidden",
            "8",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert r.exit_code == 0, r.output
    model = edgernn.load(tmp_path / "run" / "model.onnx", provider="cpu")
    assert (
        # LSTM (h, c), the pool (seen, lse, pooled), the highway (ring, seen)
        len(model.signature.states) == 2 + 3 + 2
        and model.signature.provenance["model"]["attention"] is True
    )
    assert len(model.stream().steps([[20.0, 50.0]] * 5)) == 5
    shown = CliRunner().invoke(main, ["inspect", str(tmp_path / "run" / "model.onnx")])
    assert "lstm layers [8] + attention pooling" in shown.stdout


def test_sensor_classifier_with_attention_streams_running_probabilities(tmp_path):
    report = run_classify(
        data="synth:sensor-classes?n=150&length=30",
        arch="lstm",
        hidden=(16,),
        attention=True,
        epochs=3,
        lr=5e-3,
        patience=0,
        out=tmp_path,
        quiet=True,
    )
    assert (
        report["config"]["model"]["attention"] is True
        and report["export"]["parity"]["max_abs_error"] <= 1e-5
    )
    model = load_checkpoint(tmp_path / "checkpoint.pt", "classify").model
    stream = ClassifierStream(edgernn.load(tmp_path / "model.onnx", provider="cpu"))
    seq = np.random.default_rng(1).normal([20.0, 60.0], [2.0, 5.0], (30, 2)).astype(np.float32)
    running, _ = stream.classify_sequence(seq)
    with torch.no_grad():
        x = torch.from_numpy(stream.model.signature.input_scaler.transform(seq))[None]
        want = torch.softmax(model(x)[0][0], -1).numpy()  # (T, C): running probabilities
    got = np.array([[p[k] for k in stream.labels] for p in running])
    assert np.max(np.abs(got - want)) <= 1e-5
