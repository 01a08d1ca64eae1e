"""Variable length end to end: padding never changes a prediction (LSTM + attention and the
temporal CNN), the temporal CNN streams with its receptive field as state and exports with
parity, and standardisation fitted on the training split is stored in the signature."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgernn  # noqa: E402
from edgernn.tasks.classify import ClassifierStream  # noqa: E402
from edgernn.train.classify.batches import last_logits, pad_batch, predict  # noqa: E402
from edgernn.train.classify.export import export_classifier  # noqa: E402
from edgernn.train.classify.model import Classifier, ClassifierConfig  # noqa: E402


def seqs(rng: np.random.Generator, lengths: list[int], f: int = 3) -> list[np.ndarray]:
    return [rng.normal(size=(t, f)).astype(np.float32) for t in lengths]


@pytest.mark.parametrize("arch", ["tcn", "lstm", "gru"])
def test_padding_never_changes_any_prediction(arch):
    torch.manual_seed(0)
    net = Classifier(
        ClassifierConfig(arch=arch, n_features=3, hidden=(8, 8), n_classes=4, attention=True)
    ).eval()
    batch = seqs(np.random.default_rng(1), [3, 17, 1, 9])
    alone = np.concatenate([predict(net, [s]) for s in batch])  # no padding at all
    together = predict(net, batch)  # padded to 17
    assert np.abs(alone - together).max() <= 1e-5
    # and every real step of a padded sequence, not only the last one
    x, lengths = pad_batch(batch, token=False)
    with torch.no_grad():
        steps = net(x)[0]  # (B, T, C)
        for i, s in enumerate(batch):
            own = net(torch.from_numpy(s)[None])[0][0]  # (T_i, C)
            assert torch.allclose(steps[i, : len(s)], own, atol=1e-5)
    assert torch.equal(last_logits(steps, lengths)[1], steps[1, 16])


def test_tcn_streams_its_receptive_field_as_state_and_exports_with_parity(tmp_path):
    torch.manual_seed(0)
    config = ClassifierConfig(
        arch="tcn", n_features=2, hidden=(8, 8, 8), n_classes=3, attention=True, kernel=3
    )
    net = Classifier(config).eval()
    assert net.tcn is not None and net.tcn.receptive_field == 15
    fields = {
        "labels": ["a", "b", "c"],
        "features": ["x", "y"],
        "input_scaler": {"kind": "standard", "offset": [1.0, -2.0], "scale": [2.0, 0.5]},
    }
    sig = export_classifier(net, fields, tmp_path / "tcn.onnx")
    assert sig.parity["max_abs_error"] <= 1e-5 and sig.arch == "tcn"
    # (1, batch, (k-1) * 2**i, C_in) per layer, then the attention pool's three
    assert [s.shape for s in sig.states][:3] == [(1, "batch", 2, 2), (1, "batch", 4, 8),
                                                 (1, "batch", 8, 8)]  # fmt: skip
    stream = ClassifierStream(edgernn.load(tmp_path / "tcn.onnx", provider="cpu"))
    rows = np.random.default_rng(2).normal(size=(40, 2)).astype(np.float32)  # user units
    running, label = stream.classify_sequence(rows)
    model_units = (rows - np.array([1.0, -2.0])) / np.array([2.0, 0.5])
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(model_units.astype(np.float32))[None])[0][0], -1)
    got = np.array([[p[k] for k in "abc"] for p in running])
    assert np.abs(got - want.numpy()).max() <= 1e-5 and label == "abc"[int(want[-1].argmax())]
