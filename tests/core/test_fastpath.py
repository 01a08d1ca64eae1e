"""The per-step fast paths give the numpy paths' float32 bits, whatever the input looks like."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.core.anomaly import ResidualStats
from edgernn.errors import DataError
from edgernn.signature import Scaler


def f32_view(a: np.ndarray) -> memoryview:
    return memoryview(a).cast("B").cast("f")


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
positive32 = st.floats(min_value=2.0**-100, max_value=2.0**100, width=32)


@settings(max_examples=300, deadline=None)
@given(
    cols=st.lists(
        st.tuples(finite32, positive32, st.floats(allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=4,
    )
)
def test_scaler_rows_match_numpy_bit_for_bit(cols):
    """Python floats rounded where numpy rounds: the same bits, subnormals and overflow included."""
    offset, scale, value = zip(*cols)
    sc = Scaler("standard", offset, scale)
    out = np.zeros(len(cols), np.float32)
    with np.errstate(all="ignore"):
        row = sc.transform_into(list(value), f32_view(out))
        assert np.float32(row).tobytes() == np.float32(value).tobytes()  # the float32 row it read
        assert out.tobytes() == sc.transform(np.float32(value)).tobytes()
        back = out.copy()
        sc.inverse_inplace(f32_view(back))
        assert back.tobytes() == sc.inverse(out).tobytes()


def test_inverse_of_many_rows_and_a_zero_scale():
    sc = Scaler("standard", (20.1, -3.0), (3.7, 0.25))
    y = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    got = y.copy()
    sc.inverse_inplace(f32_view(got), rows=50)
    assert got.tobytes() == sc.inverse(y).tobytes()
    # never fitted by edgernn, but numpy's inf is kept
    zero = Scaler("standard", (1.0, 2.0), (0.0, 1.0))
    out = np.zeros(2, np.float32)
    with np.errstate(all="ignore"):
        zero.transform_into([3.0, 4.0], f32_view(out))
        assert out.tobytes() == zero.transform(np.float32([3.0, 4.0])).tobytes()


@settings(max_examples=50, deadline=None)
@given(
    res=st.lists(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2), min_size=1, max_size=60)
)
def test_observe_floats_is_observe(res):
    """The inlined hot-path statistics do the very operations ``score`` and ``_absorb`` did."""
    a, b = ResidualStats(2, warmup=3, horizon=7), ResidualStats(2, warmup=3, horizon=7)
    for r in res:
        z = a.score(r)
        if z is None or z <= a.threshold:  # the reference: score, then absorb by hand
            a.count += 1
            alpha = 1.0 / min(a.count, a.horizon)
            for i, (x, m, v) in enumerate(zip(r, a.mean, a.var)):
                delta = x - m
                a.mean[i], a.var[i] = m + alpha * delta, (1 - alpha) * (v + alpha * delta * delta)
        assert b.observe_floats(r) == z or (z is not None and math.isnan(z))
        assert (a.count, a.mean, a.var) == (b.count, b.mean, b.var)


def every_kind(row: np.ndarray) -> list:
    """One row of the shipped model's inputs in every form ``Stream.step`` takes fast."""
    r64 = row.astype(np.float64)
    return [
        r64.tolist(),
        tuple(r64.tolist()),
        {"humidity": float(r64[1]), "temp": float(r64[0])},
        row.astype(np.float32),
        r64,
        [int(v) for v in row],
    ]


def test_fast_inputs_give_the_numpy_paths_results(model, rows):
    """Lists, tuples, mappings and 1-D float arrays take the fast path; a (1, F) array, a
    float16 row or a list of numeric strings take the numpy path. Same bits either way."""
    kinds = len(every_kind(rows[0]))
    fast, slow = [model.stream() for _ in range(kinds)], [model.stream() for _ in range(kinds)]
    for row in rows:
        for x, f, s in zip(every_kind(row), fast, slow):
            want = s.step(
                np.asarray(
                    x if not isinstance(x, dict) else [x["temp"], x["humidity"]], np.float64
                )[None]
            )
            assert f.step(x) == want
    assert [s.n_steps for s in fast] == [len(rows)] * kinds
    a, b = model.stream(), model.stream()
    for row in rows[:30]:
        # numbers as text, as always
        assert a.step([str(v) for v in row.tolist()]) == b.step(row.tolist())
        assert a.step(row.astype(np.float16)) == b.step(
            row.astype(np.float16).astype(np.float64)[None]
        )


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1e39, 50.0], "NaN or inf"),  # finite as a Python float, inf in float32
        (np.array([np.inf, 50.0], np.float32), "NaN or inf"),
        ((float("nan"), 50.0), "NaN or inf"),
        ({"temp": float("inf"), "humidity": 50.0}, "NaN or inf"),
        ([1.0, 2.0, 3.0], "expected 2 values"),
        (np.array([1.0, 2.0, 3.0]), r"expected rows of 2 values \(temp, humidity\)"),
        ({"temp": 1.0}, "missing feature"),
        (["warm", 1.0], "could not convert"),
    ],
)
def test_fast_path_errors_are_the_old_errors(model, bad, match):
    s = model.stream()
    with pytest.raises((DataError, ValueError), match=match):
        s.step(bad)
    assert s.n_steps == 0
