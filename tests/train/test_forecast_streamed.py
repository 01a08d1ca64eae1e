"""The forecast report is what streaming gives, and the highway, the modes and the baselines
behave as a user needs them to.

One small seasonal, trending series is trained on once (module fixture) with the defaults but a
tiny network; the tests then hold its report against a real ``edgernn stream`` run over the
same CSV.
"""

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from edgernn.cli import main  # noqa: E402
from edgernn.train.forecast.season import Baselines, detect_season, trend_ratio  # noqa: E402
from edgernn.train.forecast.windows import split_bounds  # noqa: E402

SEASON = 12
FAST = ("--hidden", "8", "--epochs", "2", "--bptt", "24")


def seasonal_csv(path, n=420, slope=0.0, seed=0):
    """A monthly-looking series: a 12-step wave, noise and an optional trend."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    v = 10 + 3 * np.sin(2 * np.pi * t / SEASON) + slope * t + 0.3 * rng.standard_normal(n)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        w.writerows([i, round(float(x), 4)] for i, x in zip(t, v))
    return v


def train(*args):
    return CliRunner().invoke(main, ["train", "forecast", "--quiet", *map(str, args)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("seasonal")
    data = root / "series.csv"
    values = seasonal_csv(data)
    out = root / "run"
    r = train(
        "--data", data, "--timestamp", "timestamp", "--train-mode", "stateful", "--out", out, *FAST
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return data, values, out, json.loads((out / "report.json").read_text())


def test_report_test_mae_is_what_edgernn_stream_gives(trained):
    data, values, out, report = trained
    r = CliRunner().invoke(
        main, ["stream", str(out / "model.onnx"), "--source", str(data), "--timestamp", "timestamp"]
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == len(values)
    forecasts = np.array([x["forecast"]["value"] for x in lines])  # made at row i for row i + 1
    _, b = split_bounds(len(values), 0.15, 0.15)
    first = max(b, SEASON + 1)  # rows the seasonal baselines can forecast too
    actual = np.round(values, 4)[first:]
    mae = float(np.mean(np.abs(forecasts[first - 1 : -1] - actual)))
    assert report["scored_rows"]["test"] == len(actual)
    assert math.isclose(report["metrics"]["test"]["mae"], mae, rel_tol=1e-5)
    assert report["evaluated_with"].startswith("the exported graph")


def test_report_sets_the_model_beside_every_baseline_on_the_same_rows(trained):
    *_, report = trained
    assert set(report["baseline"]) == {"naive_last_value", "seasonal_naive", "seasonal_ar"}
    for base in report["baseline"].values():
        assert base["test"]["n"] == report["metrics"]["test"]["n"]
    model = report["model"]
    assert model["season"] == SEASON and model["season_source"] == "detected"
    assert model["highway_lags"] == [1, 2, SEASON, SEASON + 1]
    assert model["train_mode"] == "stateful" and model["bptt"] == 24
    # the seasonal wave is all the signal: the seasonal baselines beat "next = current"
    test = {n: b["test"]["mae"] for n, b in report["baseline"].items()}
    assert test["seasonal_ar"] < test["naive_last_value"]


def test_the_signature_records_how_the_model_was_trained(trained):
    import edgernn

    *_, out, _ = trained
    sig = edgernn.load(out / "model.onnx", provider="cpu").signature
    model = sig.provenance["model"]
    assert model["train_mode"] == "stateful" and model["highway_lags"] == [1, 2, 12, 13]
    # the ring of the last s + 1 values and its "seen" flag stream as two more states
    assert [s.shape for s in sig.states[-2:]] == [(1, "batch", 13), (1, "batch", 1)]
    shown = CliRunner().invoke(main, ["inspect", str(out / "model.onnx")]).output
    assert "+ linear highway on lags 1,2,12,13 (season 12); trained stateful" in shown
    assert "baseline     seasonal autoregression: MSE" in shown


def test_linear_arch_is_the_seasonal_autoregression(tmp_path):
    data = tmp_path / "s.csv"
    seasonal_csv(data)
    out = tmp_path / "lin"
    r = train("--data", data, "--timestamp", "timestamp", "--arch", "linear", "--out", out, *FAST)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["layers"] == [] and report["arch"] == "linear"
    ar = report["baseline"]["seasonal_ar"]["test"]["mae"]
    # it starts as that very least-squares fit, and keeps it unless validation improves
    assert report["metrics"]["test"]["mae"] == pytest.approx(ar, rel=0.1)


def test_a_trending_series_forecasts_changes_and_says_so(tmp_path):
    data = tmp_path / "trend.csv"
    seasonal_csv(data, slope=0.2)
    out = tmp_path / "trend"
    r = train("--data", data, "--timestamp", "timestamp", "--out", out, *FAST)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["target_mode"] == "delta" and report["model"]["trend_ratio"] > 1
    assert report["data"]["test_outside_train_range"] > 0.9
    # changes stay in range: the streamed model beats "next = current" although every test
    # value lies above anything seen in training
    assert report["beats_naive"]


def test_auto_trains_a_short_series_on_windows_and_records_it(tmp_path):
    data = tmp_path / "s.csv"
    seasonal_csv(data)  # 294 training rows: short, so windows (STATEFUL_ROWS)
    out = tmp_path / "win"
    r = train("--data", data, "--timestamp", "timestamp", "--window", "20", "--out", out, *FAST)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["train_mode"] == "windows" and report["model"]["bptt"] is None
    assert report["config"]["train_mode"] == "auto"


def test_auto_trains_a_long_series_statefully(tmp_path):
    data = tmp_path / "long.csv"
    seasonal_csv(data, n=1600)  # 1,120 training rows
    out = tmp_path / "long"
    r = train("--data", data, "--timestamp", "timestamp", "--out", out, *FAST, "--epochs", "1")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "report.json").read_text())["model"]["train_mode"] == "stateful"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--season", "1"), "--season '1' must be auto, none, or a whole number of steps >= 2"),
        (("--season", "weekly"), "--season 'weekly' must be auto, none"),
        (("--train-mode", "online"), "--train-mode 'online' is unknown"),
        (("--target-mode", "diff"), "--target-mode 'diff' is unknown"),
        (("--arch", "linear", "--no-highway"), "--arch linear is the highway alone"),
        (("--bidirectional", "--train-mode", "stateful"), "--train-mode windows"),
        # a season the data cannot hold is a data problem (exit 5), not a usage one
        (("--season", "400"), "--season 400 needs more than 401 training rows per series"),
    ],
)
def test_bad_settings_get_one_clear_line(tmp_path, args, message):
    data = tmp_path / "s.csv"
    seasonal_csv(data)
    r = train("--data", data, "--timestamp", "timestamp", "--out", tmp_path / "o", *args, *FAST)
    assert r.exit_code == (5 if "400" in args else 2), r.output
    assert message in r.output and "Traceback" not in r.output


def test_season_is_detected_and_absent_seasons_are_not_invented():
    t = np.arange(600.0)
    rng = np.random.default_rng(1)
    assert detect_season(np.sin(2 * np.pi * t / 24) + 0.1 * rng.standard_normal(600)) == 24
    assert detect_season(rng.standard_normal(600)) is None
    assert (
        trend_ratio(0.05 * t + rng.standard_normal(600)) > 1 > trend_ratio(rng.standard_normal(600))
    )


def test_seasonal_autoregression_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    y = np.zeros(5000)
    for i in range(13, len(y)):
        y[i] = 0.5 * y[i - 1] - 0.2 * y[i - 2] + 0.4 * y[i - 12] + 1.0 + rng.standard_normal()
    b = Baselines.fit([y[:, None]], season=12)
    assert np.allclose(b.weight[0], [0.5, -0.2, 0.4, 0.0], atol=0.05)
    assert b.bias[0] == pytest.approx(1.0, abs=0.15)
    wave = np.tile(np.arange(12.0), 10)[:, None]
    assert np.array_equal(b.seasonal_naive(wave)[12:], wave[12:])
