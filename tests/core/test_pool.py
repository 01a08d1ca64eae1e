"""The pool gives every key exactly what a separate Stream would, bit for bit."""

from __future__ import annotations

import threading
from dataclasses import astuple

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.core import snapshot
from edgernn.core.pool import SMALL_TICK
from edgernn.errors import DataError, StateError, UsageError
from edgernn.feeds.synth import sensor_signal


def series(n_keys: int, T: int) -> np.ndarray:
    """(n_keys, T, 2) distinct demo sensors, user units."""
    out = []
    for k in range(n_keys):
        s = sensor_signal(T, seed=100 + k, anomaly_rate=0.02)
        out.append(np.stack([s["temp"], s["humidity"]], axis=1))
    return np.stack(out)


def test_pool_equals_separate_streams_with_joins_leaves_and_resets(model):
    data = series(6, 80)
    pool, streams = model.pool(capacity=2), {}  # capacity grows
    cursor = {k: 0 for k in range(6)}
    rng = np.random.default_rng(1)
    for tick in range(120):
        ready = [k for k in range(6) if rng.random() < 0.6 and cursor[k] < 80]
        if tick == 40:
            pool.reset(2), streams.get(2) and streams[2].reset()
        if tick == 60 and 3 in pool:
            streams[3] = model.stream(state=pool.remove(3))  # leaves the pool, goes on alone
        ready = [k for k in ready if not (k == 3 and tick >= 60)]
        if not ready:
            continue
        rows = np.stack([data[k, cursor[k]] for k in ready])
        got = pool.step(ready, rows)
        for k, r, row in zip(ready, got, rows):
            s = streams.setdefault(k, model.stream())
            assert r == s.step(row)  # forecast, score, flag and step count, exactly
            cursor[k] += 1
    assert len(pool) == 5 and pool.capacity >= 6


@settings(max_examples=20, deadline=None)
@given(order=st.permutations(range(5)), drop=st.integers(0, 4))
def test_key_order_and_removals_do_not_matter(model, order, drop):
    data = series(5, 30)
    pool = model.pool(capacity=8)
    alone = [model.stream() for _ in range(5)]
    for t in range(30):
        keys = [k for k in order if not (k == drop and t >= 15)]
        if t == 15:
            pool.remove(drop)
        res = pool.step_batch(keys, data[keys, t])
        want = np.array(
            [[alone[k].step(data[k, t]).forecast["temp"]] for k in keys], dtype=np.float32
        )
        np.testing.assert_array_equal(res.forecast, want)


def test_idle_streams_are_spilled_and_come_back_transparently(model):
    data = series(3, 40)
    pool = model.pool(idle_s=10.0)
    alone = [model.stream() for _ in range(3)]
    for t in range(20):
        pool.step([0, 1, 2], data[:, t])
        [s.step(data[k, t]) for k, s in enumerate(alone)]
    evicted = pool.evict_idle(now=1e12)
    assert sorted(evicted) == [0, 1, 2] and len(pool) == 0 and len(pool.spilled) == 3
    for t in range(20, 40):
        assert pool.step([2, 0], data[[2, 0], t]) == [
            alone[2].step(data[2, t]),
            alone[0].step(data[0, t]),
        ]


def test_pool_and_stream_snapshots_are_interchangeable(model):
    data = series(1, 50)[0]
    s = model.stream()
    s.steps(data[:25])
    pool = model.pool()
    pool.restore("k", s.snapshot())
    assert pool.step(["k"], data[25:26]) == [s.step(data[25])]
    back = model.stream(state=pool.snapshot("k"))
    assert [back.step(r) for r in data[26:]] == [s.step(r) for r in data[26:]]


def test_many_producer_threads_share_one_pool(model):
    data = series(8, 60)
    pool = model.pool(capacity=4)
    results: dict[int, list] = {}

    def produce(k: int) -> None:
        results[k] = [pool.step([k], data[k, t : t + 1])[0] for t in range(60)]

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for k in range(8):
        s = model.stream()
        assert results[k] == [s.step(r) for r in data[k]]


def test_a_key_twice_in_one_tick_is_refused(model):
    with pytest.raises(UsageError, match="at most once"):
        model.pool().step_batch(["a", "a"], np.zeros((2, 2)))


def test_foreign_snapshot_is_refused_before_anything_changes(model):
    pool = model.pool()
    pool.step(["a"], [[20.0, 50.0]])
    with pytest.raises(StateError):
        pool.restore("a", b"EDGERNN-STATE\n" + b"\x02" + b"0" * 40)
    assert pool.step(["a"], [[20.0, 50.0]])[0].step == 2


def test_saved_pool_state_resumes_every_key_exactly(model):
    data = series(4, 40)
    pool = model.pool(capacity=2, idle_s=1.0)
    for t in range(20):
        pool.step([0, 1, 2, 3], data[:, t])
    pool.spilled[1] = pool.remove(1)  # one stream spilled, three active
    blob = pool.save_state({"note": "x"})
    again = model.pool()
    assert again.load_state(blob) == {"note": "x"}
    for t in range(20, 40):
        assert again.step([0, 1, 2, 3], data[:, t]) == pool.step([0, 1, 2, 3], data[:, t])
    with pytest.raises(StateError):
        model.pool().load_state(blob[:-3])


# ---- fast paths and device slabs -------------------------------------------------------------
@pytest.fixture(scope="module")
def device_model():
    """The CUDA code path (state slabs in ORT-allocated OrtValues, kept there by dense ticks)
    run on the CPU device."""
    m = edgernn.load(provider="cpu")
    m.state_device = "cpu"
    return m


def churn(model, n_keys: int = 24, ticks: int = 160, seed: int = 2) -> list:
    """Every kind of tick over a pool that grows, loses keys and resets some: dense ticks (all
    keys in slot order), small and large sparse ticks in random order; results and snapshots."""
    data, rng = series(n_keys, ticks), np.random.default_rng(seed)
    pool, cursor, out = model.pool(capacity=2), dict.fromkeys(range(n_keys), 0), []
    for tick in range(ticks):
        kind = tick % 4
        if kind < 2:
            # dense, plus a newcomer
            ready = pool.keys() + [k for k in range(n_keys) if k not in pool][:1]
        else:
            ready = rng.choice(
                n_keys, size=int(rng.integers(1, 4 if kind == 2 else n_keys)), replace=False
            ).tolist()
        ready = [k for k in ready if cursor[k] < ticks]
        rows = np.stack([data[k, cursor[k]] for k in ready])
        got = pool.step_batch(ready, rows) if tick % 2 else pool.step(ready, rows.tolist())
        out.append(astuple(got) if tick % 2 else got)
        for k in ready:
            cursor[k] += 1
        if tick % 37 == 36:
            out.append(contents(model, pool.remove(pool.keys()[1])))
        if tick % 23 == 22:
            pool.reset(pool.keys()[0])
    return out + [contents(model, pool.save_state())]


def contents(model, blob: bytes) -> tuple:
    """A snapshot's header and arrays, byte for byte (the blob itself holds the zip's file
    times)."""
    meta, arrays = snapshot.unpack(blob, model.model_id)
    return meta, {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()}


def test_device_slabs_give_the_host_pools_results_bit_for_bit(model, device_model):
    host, device = churn(model), churn(device_model)
    assert len(host) == len(device)
    for a, b in zip(host, device):
        if isinstance(a, tuple) and isinstance(a[0], np.ndarray):  # a BatchResult
            assert all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(a, b))
        else:
            assert a == b


def test_dense_ticks_keep_the_state_on_the_device(device_model, monkeypatch):
    data = series(5, 30)
    pool, alone = device_model.pool(), [device_model.stream() for _ in range(5)]
    pool.step_batch(list(range(5)), data[:, 0])  # new keys join on the host; this tick uploads them
    copies = []
    monkeypatch.setattr(ort.OrtValue, "numpy", lambda self: copies.append("to the host"))
    monkeypatch.setattr(
        ort.OrtValue, "update_inplace", lambda self, a: copies.append("to the device")
    )
    for t in range(1, 20):
        pool.step_batch(list(range(5)), data[:, t])
    assert copies == [] and isinstance(pool._slabs.sets[0][0], ort.OrtValue)
    monkeypatch.undo()
    for t in range(20):
        [s.step(data[k, t]) for k, s in enumerate(alone)]
    assert pool.step([3], data[3, 20:21]) == [alone[3].step(data[3, 20])]  # sparse: one round trip
    assert pool.step(list(range(5)), data[:, 21]) == [
        s.step(data[k, 21]) for k, s in enumerate(alone)
    ]


@pytest.mark.parametrize("n_keys", [1, 3, SMALL_TICK, SMALL_TICK + 1, 40])
def test_every_tick_size_equals_separate_streams(model, n_keys):
    """Small ticks run in Python numbers, larger ones vectorised: both give what a Stream gives,
    dense (all keys in slot order) or not (a shuffled subset)."""
    data, rng = series(n_keys, 60), np.random.default_rng(n_keys)
    pool, alone = model.pool(), [model.stream() for _ in range(n_keys)]
    for t in range(60):
        keys = (
            list(range(n_keys))
            if t % 3
            else rng.permutation(n_keys)[: max(1, n_keys // 2)].tolist()
        )
        got = pool.step(keys, data[keys, t] if t % 2 else [list(r) for r in data[keys, t]])
        assert got == [alone[k].step(data[k, t]) for k in keys]
        for k in set(range(n_keys)) - set(keys):  # the others step alone: a 1-key sparse tick
            assert pool.step([k], data[k, t][None]) == [alone[k].step(data[k, t])]


@pytest.mark.parametrize(
    "rows, match",
    [
        ([[float("nan"), 50.0]], "NaN or inf"),
        (np.array([[np.inf, 50.0]], np.float32), "NaN or inf"),
        ([[1e39, 50.0]], "NaN or inf"),  # finite in Python, inf in float32
        ([[20.0]], "expected rows of 2 values"),
    ],
)
def test_bad_rows_are_refused_before_any_key_joins(model, rows, match):
    pool = model.pool()
    with pytest.raises(DataError, match=match):
        pool.step(["new"], rows)
    assert "new" not in pool and len(pool) == 0
    with pytest.raises(DataError, match=match):
        pool.step_batch(["new"], rows)
    assert len(pool) == 0


@pytest.mark.parametrize("n_keys", [1, SMALL_TICK, SMALL_TICK + 1, 40])
def test_drift_alarms_match_separate_streams_through_resets_removals_and_resumes(model, n_keys):
    """A low drift threshold makes the drift test fire often, so its resets run on every path
    (small ticks in Python floats on the per-slot memoryviews, larger ones vectorised); the pool
    still gives each key what its own Stream gives, detector included, and carries the drift
    test through a reset (ticks with warm and warming keys), a removal (its snapshot) and a saved
    pool state."""
    T, rng = 240, np.random.default_rng(n_keys)
    data = series(n_keys, T)
    pool = edgernn.Pool(model, drift_threshold=3.0)
    alone = [edgernn.Stream(model, drift_threshold=3.0) for _ in range(n_keys)]
    detectors = []
    for t in range(T):
        keys = list(range(n_keys)) if t % 3 else rng.permutation(n_keys)[: max(1, n_keys // 2)]
        keys = [int(k) for k in keys]
        got = pool.step(keys, data[keys, t])
        assert got == [alone[k].step(data[k, t]) for k in keys]
        detectors += [r.detector for r in got]
        for k in set(range(n_keys)) - set(keys):
            assert pool.step([k], data[k, t][None]) == [alone[k].step(data[k, t])]
        if t == 60:  # the last key starts over: it warms up while the others' tests run on
            pool.reset(n_keys - 1), alone[n_keys - 1].reset()
        if t == 120:  # key 0 leaves and comes back from its snapshot; the pool is saved, reloaded
            pool.restore(0, pool.remove(0))
            again = edgernn.Pool(model, drift_threshold=3.0)
            again.load_state(pool.save_state())
            pool = again
    assert "drift" in detectors


def test_the_batch_result_says_which_detector_fired(model):
    data = series(SMALL_TICK + 1, 200)
    keys = list(range(SMALL_TICK + 1))
    small, large = (edgernn.Pool(model, drift_threshold=3.0) for _ in range(2))
    seen = set()
    for t in range(200):
        a = small.step_batch(keys[:1], data[:1, t])  # a small tick
        b = large.step_batch(keys, data[:, t])  # a vectorised one
        assert a.detectors()[0] == b.detectors()[0]
        seen |= set(b.detectors())
        for out in (a, b):
            assert (out.anomaly == (out.residual | out.drift)).all()
            assert (out.residual == (out.anomaly_score > small.threshold)).all()
    assert {"residual", "drift", None} <= seen
