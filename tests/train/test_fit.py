"""Fitting a forecaster: it learns, it is reproducible, early stopping and the plateau schedule
work."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgernn.train.forecast.fit as fit_module  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.fit import fit, predict, seed_everything  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402
from edgernn.train.forecast.windows import prepare_data  # noqa: E402


def setup(arch="lstm", hidden=(8,), seed=0, **kw):
    cfg = TrainConfig(
        data="synth:sensor?n=600",
        window=10,
        arch=arch,
        hidden=hidden,
        epochs=kw.pop("epochs", 2),
        batch_size=32,
        seed=seed,
        quiet=True,
        export=False,
        **{"highway": False, **kw},  # the models below are built without one
    )
    seed_everything(cfg.seed)
    data = prepare_data(cfg)
    model = Forecaster(
        ForecasterConfig(arch, len(data.features), len(data.targets), cfg.hidden, cfg.dropout)
    )
    return cfg, data, model


@pytest.mark.parametrize("mode", ["stateful", "windows"])
def test_fit_learns_every_arch_with_stacks_and_dropout(mode):
    for arch in ("rnn", "lstm", "gru"):
        cfg, data, model = setup(arch, hidden=(8, 6, 4), dropout=0.2, epochs=3, train_mode=mode)
        hist = fit(model, data, cfg)
        assert hist.epochs_run == 3 and np.isfinite(hist.train_loss).all()
        assert hist.val_loss[hist.best_epoch - 1] == min(hist.val_loss)
        assert hist.train_loss[-1] < hist.train_loss[0]
        assert not model.training


def test_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        cfg, data, model = setup(seed=7)
        hist = fit(model, data, cfg)
        runs.append((hist.train_loss, hist.val_loss, predict(model, data.parts["test"].x)))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    cfg, data, model = setup(seed=8)
    assert fit(model, data, cfg).train_loss != runs[0][0]


def test_early_stopping_keeps_best_weights_and_plateau_halves_lr(monkeypatch):
    cfg, data, model = setup(epochs=20, patience=3, lr_patience=1)
    snapshots, losses = [], iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])

    def fake_loss(validation):  # validation gets worse after epoch 2
        snapshots.append({k: v.clone() for k, v in validation.model.state_dict().items()})
        return next(losses)

    monkeypatch.setattr(fit_module.Validation, "loss", fake_loss)
    hist = fit(model, data, cfg)
    assert hist.stopped_early and hist.epochs_run == 5 and hist.best_epoch == 2
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
    assert hist.lr == [1e-3, 1e-3, 1e-3, 1e-3, 5e-4]


def test_patience_zero_never_stops(monkeypatch):
    cfg, data, model = setup(epochs=4, patience=0)
    losses = iter([1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(fit_module.Validation, "loss", lambda v: next(losses))
    hist = fit(model, data, cfg)
    assert hist.epochs_run == 4 and not hist.stopped_early and hist.best_epoch == 1


def test_predict_shape_and_zero_state():
    cfg, data, model = setup()
    x = data.parts["test"].x[:5]
    y = predict(model, x)
    assert y.shape == (5, 10, 1)
    # step t only sees steps <= t, from a zero state: a prefix gives the same outputs
    np.testing.assert_allclose(
        predict(model, np.ascontiguousarray(x[:, :4])), y[:, :4], rtol=1e-5, atol=1e-6
    )
