"""Variable length end to end: padding never changes a prediction (LSTM + attention, the
temporal CNN, max pooling, ensembles), the temporal CNN streams with its receptive field as
state and exports with parity, max pooling gives the same numbers step by step, in chunks and
whole, and standardisation fitted on the training split is stored in the signature."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import edgernn  # noqa: E402
from edgernn.tasks import classify as classify_task  # noqa: E402
from edgernn.tasks.classify import ClassifierStream  # noqa: E402
from edgernn.train.classify.batches import last_logits, pad_batch, predict  # noqa: E402
from edgernn.train.classify.ensemble import (  # noqa: E402
    Ensemble,
    TCNEnsemble,
    build_classifier,
)
from edgernn.train.classify.export import export_classifier  # noqa: E402
from edgernn.train.classify.model import Classifier, ClassifierConfig  # noqa: E402
from edgernn.train.classify.train import member_splits, run_classify  # noqa: E402
from edgernn.train.registry import load_checkpoint  # noqa: E402


def seqs(rng: np.random.Generator, lengths: list[int], f: int = 3) -> list[np.ndarray]:
    return [rng.normal(size=(t, f)).astype(np.float32) for t in lengths]


@pytest.mark.parametrize(
    "arch, max_pool, members",
    [
        ("tcn", False, 1),
        ("lstm", False, 1),
        ("gru", False, 1),
        ("tcn", True, 1),
        ("gru", True, 2),
        ("tcn", True, 3),
    ],  # fmt: skip
)
def test_padding_never_changes_any_prediction(arch, max_pool, members):
    torch.manual_seed(0)
    config = ClassifierConfig(
        arch=arch, n_features=3, hidden=(8, 8), n_classes=4, attention=True, max_pool=max_pool,
        members=members,
    )  # fmt: skip
    net = build_classifier(config).eval()
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


def test_max_pool_is_the_same_step_by_step_in_chunks_and_whole():
    torch.manual_seed(0)
    config = ClassifierConfig(arch="tcn", n_features=3, hidden=(8, 8), n_classes=4, max_pool=True)
    net = Classifier(config).eval()
    x = torch.from_numpy(seqs(np.random.default_rng(3), [23])[0])[None]  # (1, T, F)
    with torch.no_grad():
        whole = net(x)[0]
        for cut in (1, 5):
            state, parts = net.initial_state(1), []
            for i in range(0, 23, cut):
                out, *state = net(x[:, i : i + cut], *state)
                parts.append(out)
            assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-6)
        # the pooled maximum is the maximum of the top layer over every step so far
        assert net.peak is not None and net.tcn is not None
        top = net.tcn(x, *net.tcn.initial_state(1))[0]  # (1, T, H)
        pooled = net.peak(top, *net.peak.initial_state(1))[0]
        assert torch.equal(pooled[0, -1], top[0].amax(dim=0))


def test_long_texts_run_in_chunks_with_the_same_probabilities(tmp_path, monkeypatch):
    torch.manual_seed(0)
    vocab = ["<unk>", *"abcdefgh"]
    config = ClassifierConfig(
        arch="tcn", vocab_size=len(vocab), embed=4, hidden=(8, 8), n_classes=2, max_pool=True,
        attention=True,
    )  # fmt: skip
    fields = {
        "labels": ["no", "yes"],
        "tokenizer": {"kind": "char", "vocab": vocab, "unk": "<unk>"},
    }
    export_classifier(Classifier(config).eval(), fields, tmp_path / "m.onnx")
    stream = ClassifierStream(edgernn.load(tmp_path / "m.onnx", provider="cpu"))
    text = "abcahgfedcbbadeghhh" * 3  # 57 tokens
    whole, label = stream.classify_text(text)
    monkeypatch.setattr(classify_task, "CHUNK", 5)  # 12 graph calls, state carried between
    chunked, chunked_label = stream.classify_text(text)
    assert label == chunked_label and len(chunked) == len(whole) == 57
    for (t1, p1), (t2, p2) in zip(whole, chunked):
        assert t1 == t2 and all(abs(p1[k] - p2[k]) <= 1e-6 for k in p1)


def test_members_each_draw_their_own_stratified_validation():
    y = np.array([0] * 10 + [1] * 10 + [2] * 5)
    xs = [np.full((3, 1), i, np.float32) for i in range(25)]
    splits = [([xs[i] for i in range(20)], y[:20]), ([xs[i] for i in range(20, 25)], y[20:25])]
    from edgernn.train.classify.train import ClassifyOptions

    o = ClassifyOptions(data="-", val_frac=0.2)
    drawn = member_splits(splits, 3, o, val_given=False)
    assert drawn[0] == (splits[0], splits[1])  # member 0: the split itself
    vals = []
    for m, (train, val) in enumerate(drawn):
        assert len(train[1]) + len(val[1]) == 25
        assert m == 0 or (set(val[1]) == {0, 1, 2} and len(val[1]) == 5)  # 20% of each class
        seen = sorted(int(x[0, 0]) for x in train[0] + val[0])
        assert seen == list(range(25))  # every sequence, once
        vals.append(sorted(int(x[0, 0]) for x in val[0]))
    assert len({tuple(v) for v in vals}) == 3  # three different validation draws
    # the data's own val is every member's
    assert all(d == (splits[0], splits[1]) for d in member_splits(splits, 3, o, val_given=True))


def test_small_data_trains_an_ensemble_that_exports_and_reloads(tmp_path):
    from test_classify_splits import ts_file

    train, test = ts_file(tmp_path / "S_TRAIN.ts", 18, 0), ts_file(tmp_path / "S_TEST.ts", 9, 1)
    report = run_classify(
        data=str(train), test_data=str(test), out=tmp_path / "run", hidden=(8,), epochs=3,
        patience=0, quiet=True, members=3,
    )  # fmt: skip
    members = report["training"]["members"]
    assert [m["seed"] for m in members] == [0, 1000, 2000]
    assert all(m["epochs_run"] == 3 for m in members)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt", "classify")
    assert ckpt.model.config.members == 3 and isinstance(ckpt.model, TCNEnsemble)
    model = edgernn.load(tmp_path / "run" / "model.onnx", provider="cpu")
    # members side by side: the input history, attention's three, max pooling's two
    assert [s.shape for s in model.signature.states] == [
        (1, "batch", 2, 2), (1, "batch", 1, 1), (1, "batch", 3, 1), (1, "batch", 3, 8),
        (1, "batch", 1, 1), (1, "batch", 3, 8),
    ]  # fmt: skip
    assert report["metrics"]["test"]["n"] == 9  # streamed through the exported ensemble


@pytest.mark.parametrize("n_features", [3, 8])  # 8: the first layer adds its input back
def test_tcn_members_side_by_side_are_each_member(n_features):
    config = ClassifierConfig(
        arch="tcn", n_features=n_features, hidden=(8, 8, 8), n_classes=4, attention=True,
        max_pool=True, members=3,
    )  # fmt: skip
    nets = []
    for m in range(3):
        torch.manual_seed(m)
        nets.append(Classifier(config.__class__(**{**config.to_dict(), "members": 1})).eval())
    apart = Ensemble(config).eval()  # one member after another
    for member, net in zip(apart.members, nets):
        member.load_state_dict(net.state_dict())
    fused = TCNEnsemble.from_members(config, nets)
    assert sum(p.numel() for p in fused.parameters()) == sum(p.numel() for p in apart.parameters())
    x = torch.from_numpy(seqs(np.random.default_rng(4), [17], n_features)[0])[None]  # (1, T, F)
    with torch.no_grad():
        whole = fused(x)[0]
        assert torch.allclose(whole, apart(x)[0], atol=1e-6)
        state, steps = fused.initial_state(1), []
        for t in range(17):
            out, *state = fused(x[:, t : t + 1], *state)
            steps.append(out)
        assert torch.allclose(torch.cat(steps, dim=1), whole, atol=1e-6)
