"""Data loading, series by key, chronological split, scalers fitted on train, windows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgernn.errors import DataError, UsageError  # noqa: E402
from edgernn.signature import Scaler  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.data import load_table, to_series  # noqa: E402
from edgernn.train.forecast.windows import (  # noqa: E402
    fit_scaler,
    make_windows,
    prepare_data,
    sliding_windows,
    split_bounds,
)
from edgernn.train.options import parse_hidden, parse_names  # noqa: E402


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def cfg(data, **kw) -> TrainConfig:
    kw.setdefault("window", 5)
    kw.setdefault("train_mode", "windows")  # these tests are about cutting windows
    return TrainConfig(data=str(data), export=False, quiet=True, **kw)


# ---- windows -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 40), c=st.integers(1, 3), length=st.integers(1, 10), stride=st.integers(1, 5)
)
def test_sliding_windows_property(n, c, length, stride):
    a = np.arange(n * c, dtype=np.float64).reshape(n, c)  # (N, C)
    w = sliding_windows(a, length, stride)  # (W, T, C)
    expected = 0 if n < length else (n - length) // stride + 1
    assert w.shape == (expected, length, c)
    for i in range(expected):
        for t in range(length):
            assert (w[i, t] == a[i * stride + t]).all()


def test_window_targets_are_next_step_and_naive_is_current():
    s = to_series(load_table("synth:sensor?n=60"), ("temp", "humidity"), ("temp",))[0]
    ident = Scaler.identity(2), Scaler.identity(1)
    w = make_windows([s], [slice(0, 60)], window=7, stride=3, sx=ident[0], sy=ident[1])
    assert w.x.shape == (18, 7, 2) and w.y.shape == (18, 7, 1)
    for i in range(len(w)):
        start = i * 3
        np.testing.assert_allclose(w.x[i], s.x[start : start + 7], rtol=1e-6)
        np.testing.assert_allclose(w.y[i, :, 0], s.y[start + 1 : start + 8, 0], rtol=1e-6)
        assert w.current[i, 0] == s.y[start + 6, 0] and w.actual[i, 0] == s.y[start + 7, 0]


def test_windows_never_cross_keys(tmp_path):
    # key a holds values 0.., key b 1000..; rows interleaved in the file
    rows = []
    for t in range(60):
        rows += [["a", t, float(t)], ["b", t, 1000.0 + t]]
    data = write_csv(tmp_path / "k.csv", ["key", "t", "v"], rows)
    ds = prepare_data(cfg(data, features=("v",), key="key"))
    assert ds.n_series == 2
    for w in ds.parts.values():
        raw = ds.input_scaler.inverse(w.x)[..., 0]  # (W, T)
        low = raw < 500
        assert (low.all(axis=1) | (~low).all(axis=1)).all()
        assert ((w.actual[:, 0] < 500) == low[:, 0]).all()
    # per-series chronological split: 60 rows -> 42 train / 9 val / 9 test each
    assert ds.rows == {"train": 84, "val": 18, "test": 18}


def test_split_is_chronological_after_sorting_by_timestamp(tmp_path):
    times = np.random.default_rng(0).permutation(100)
    rows = [[f"2024-01-01T00:{t // 60:02d}:{t % 60:02d}Z", float(t)] for t in times]
    data = write_csv(tmp_path / "t.csv", ["ts", "v"], rows)
    ds = prepare_data(cfg(data, features=("v",), timestamp="ts"))
    a, b = split_bounds(100, 0.15, 0.15)
    for part, (lo, hi) in zip(("train", "val", "test"), ((0, a), (a, b), (b, 100))):
        w = ds.parts[part]
        x = ds.input_scaler.inverse(w.x)[..., 0]
        assert x.min() >= lo - 1e-3 and w.actual.max() <= hi - 1
        assert (np.diff(x, axis=1) > 0).all()  # time order inside every window


def test_split_bounds():
    assert split_bounds(100, 0.15, 0.15) == (70, 85)
    assert split_bounds(10, 0.2, 0.1) == (7, 9)


# ---- scalers -----------------------------------------------------------------------------


def test_scaler_fitted_on_train_only(tmp_path):
    v = np.arange(100.0)
    base = write_csv(tmp_path / "a.csv", ["v"], [[x] for x in v])
    changed = write_csv(
        tmp_path / "b.csv", ["v"], [[x if i < 85 else 1e6] for i, x in enumerate(v)]
    )
    s1 = prepare_data(cfg(base)).input_scaler
    s2 = prepare_data(cfg(changed)).input_scaler
    assert s1 == s2
    assert s1.offset[0] == pytest.approx(v[:70].mean()) and s1.scale[0] == pytest.approx(
        v[:70].std()
    )
    mm = prepare_data(cfg(changed, scaler="minmax")).target_scaler
    assert mm == Scaler("minmax", (0.0,), (69.0,))


def test_fit_scaler_guards_zero_scale():
    values = np.array([[1.0, 5.0], [1.0, 7.0]])
    assert fit_scaler(values, "standard") == Scaler("standard", (1.0, 6.0), (1.0, 1.0))
    assert fit_scaler(values, "minmax") == Scaler("minmax", (1.0, 5.0), (1.0, 2.0))


# ---- sources -----------------------------------------------------------------------------


def test_npy_columns_default_and_named(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(300.0).reshape(100, 3))
    assert load_table(str(path)).names == ("col0", "col1", "col2")
    ds = prepare_data(cfg(path, columns=("a", "b", "c"), features=("a", "b"), targets=("c",)))
    assert ds.features == ("a", "b") and ds.targets == ("c",)
    with pytest.raises(UsageError, match="--columns gives 2 names"):
        load_table(str(path), ("a", "b"))


def test_synth_source_and_defaults():
    t = load_table("synth:sensor?n=500&seed=3")
    assert t.n_rows == 500 and t.source == {"kind": "synth", "name": "sensor", "n": 500, "seed": 3}
    ds = prepare_data(cfg("synth:sensor?n=500"))
    assert ds.features == ("temp", "humidity") and ds.targets == ("temp",)
    with pytest.raises(UsageError, match="unknown synthetic source"):
        load_table("synth:wind")
    with pytest.raises(UsageError, match="bad parameter"):
        load_table("synth:sensor?n=abc")


def test_target_need_not_be_a_feature(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["a", "b"], [[i, 2 * i] for i in range(100)])
    ds = prepare_data(cfg(data, features=("a",), targets=("b",)))
    assert (
        ds.parts["test"].actual[0, 0]
        == 2 * ds.input_scaler.inverse(ds.parts["test"].x)[0, -1, 0] + 2
    )


# ---- errors ------------------------------------------------------------------------------


def test_missing_file():
    with pytest.raises(DataError, match="does not exist"):
        load_table("/no/such/file.csv")


def test_missing_column_lists_the_columns(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["temp", "hum"], [[1, 2]] * 100)
    with pytest.raises(
        DataError, match=r"no column 'humidity' \(from --features\); its columns are: temp, hum"
    ):
        prepare_data(cfg(data, features=("temp", "humidity")))
    with pytest.raises(DataError, match="no column 'site' \\(from --key\\)"):
        prepare_data(cfg(data, key="site"))


@pytest.mark.parametrize("bad", ["abc", "", "nan", "inf"])
def test_bad_cell_names_line_and_column(tmp_path, bad):
    rows = [[i, i] for i in range(100)]
    rows[10][1] = bad
    data = write_csv(tmp_path / "d.csv", ["a", "b"], rows)
    with pytest.raises(DataError, match=r"d.csv line 12, column 'b': .* is not a finite number"):
        prepare_data(cfg(data))


def test_ragged_row_and_bad_timestamp(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DataError, match="line 3 has 1 cells but the header has 2"):
        load_table(str(path))
    data = write_csv(tmp_path / "t.csv", ["ts", "v"], [["2024-01-01", 1], ["soon", 2]])
    with pytest.raises(
        DataError, match="line 3, column 'ts': 'soon' is neither a number nor an ISO-8601"
    ):
        prepare_data(cfg(data, features=("v",), timestamp="ts"))


def test_too_few_rows(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["v"], [[i] for i in range(30)])  # 22 / 4 / 4 rows
    # a window needs T + 1 rows plus the highway's burn-in (lags 1, 2: no season in a ramp)
    with pytest.raises(DataError, match="the train split needs 28 consecutive rows .* --window"):
        prepare_data(cfg(data, window=25))
    with pytest.raises(DataError, match="the train split needs 31 consecutive rows .* --bptt"):
        prepare_data(cfg(data, train_mode="stateful", bptt=30))
    # validation and test are streamed: a few rows each will do
    assert prepare_data(cfg(data)).rows == {"train": 22, "val": 4, "test": 4}


def test_config_and_option_parsing_errors():
    assert parse_hidden("50, 50,25") == (50, 50, 25)
    for bad in ("64,x", "0", "", "64,,64", "-3"):
        with pytest.raises(UsageError, match="--hidden"):
            parse_hidden(bad)
    assert parse_names("temp, humidity", "--features") == ("temp", "humidity")
    with pytest.raises(UsageError, match="twice"):
        parse_names("a,a", "--features")
    with pytest.raises(
        UsageError, match="--arch 'transformer' is unknown; choose one of rnn, lstm, gru"
    ):
        TrainConfig(data="x", arch="transformer")
    with pytest.raises(UsageError, match="leave nothing to train on"):
        TrainConfig(data="x", val_frac=0.5, test_frac=0.5)
