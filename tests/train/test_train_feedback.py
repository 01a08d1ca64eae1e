"""What training tells the user: hints that fit the mistake, progress that suits a log, honest plots
and a warning when the model loses to the naive forecast."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError  # noqa: E402
from edgernn.feeds.synth import sensor_signal  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.evaluate import score  # noqa: E402
from edgernn.train.forecast.fit import fit, seed_everything  # noqa: E402
from edgernn.train.forecast.model import Forecaster, ForecasterConfig  # noqa: E402
from edgernn.train.forecast.report import beats_naive, naive_warning, plot  # noqa: E402
from edgernn.train.forecast.windows import prepare_data  # noqa: E402

TINY = [
    "--window",
    "8",
    "--hidden",
    "4",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--quiet",
    "--no-export",
]


def train(*args):
    return CliRunner().invoke(main, ["train", "forecast", *map(str, args)])


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Path:
    """Two sensors of 200 rows each, keyed by a text column."""
    s = sensor_signal(400, seed=3)
    path = tmp_path_factory.mktemp("data") / "keyed.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sensor", "temp", "humidity"])
        w.writerows(
            [
                ["a" if i < 200 else "b", f"{t:.4f}", f"{h:.4f}"]
                for i, (t, h) in enumerate(zip(s["temp"], s["humidity"]))
            ]
        )
    return path


@pytest.mark.parametrize(
    "window, val, test, short, hint",
    [
        (80, 0.15, 0.15, "train", "or smaller --val/--test fractions"),
        (20, 0.005, 0.15, "val", "or a larger --val fraction"),
        (15, 0.3, 0.005, "test", "or a larger --test fraction"),
    ],
)
def test_too_short_hint_fits_the_short_split(window, val, test, short, hint):
    with pytest.raises(DataError, match=f"the {short} split") as e:
        prepare_data(
            TrainConfig(
                data="synth:sensor?n=100",
                window=window,
                val_frac=val,
                test_frac=test,
                train_mode="windows",
            )
        )
    assert hint in str(e.value)
    if short == "train":
        assert "larger" not in str(e.value)


def one_error_line(r, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, (
        r.stderr
    )
    return lines[0]


def test_a_text_key_column_without_key_suggests_key_and_features(keyed, tmp_path):
    line = one_error_line(train("--data", keyed, "--out", tmp_path, *TINY), 5)
    assert "column 'sensor' holds no numbers (first value 'a')" in line
    assert "pass --key sensor" in line and "--features temp,humidity" in line
    line = one_error_line(
        train("--data", keyed, "--features", "sensor,temp", "--out", tmp_path, *TINY), 5
    )
    assert "pass --key sensor" in line and "leave it out of --features" in line
    assert train("--data", keyed, "--key", "sensor", "--out", tmp_path, *TINY).exit_code == 0


def test_an_iso_time_column_suggests_timestamp(tmp_path):
    path = tmp_path / "timed.csv"
    path.write_text(
        "ts,temp\n"
        + "".join(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d},{i % 7}.5\n" for i in range(200))
    )
    line = one_error_line(train("--data", path, "--out", tmp_path, *TINY), 5)
    assert "pass --timestamp ts" in line and "--key" not in line


def test_a_bad_cell_in_a_numeric_column_still_names_its_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("temp,humidity\n" + "".join(f"{i},{i}\n" for i in range(50)) + "20.1,wet\n")
    assert "line 52, column 'humidity': 'wet' is not a finite number" in one_error_line(
        train("--data", path, "--out", tmp_path, *TINY), 5
    )


def test_progress_in_a_log_is_one_plain_line_per_epoch(capsys):
    cfg = TrainConfig(
        data="synth:sensor?n=600", window=10, hidden=(4,), epochs=3, batch_size=32, export=False
    )
    seed_everything(0)
    data = prepare_data(cfg)
    model = Forecaster(ForecasterConfig("lstm", len(data.features), len(data.targets), cfg.hidden))
    fit(model, data, cfg)
    err = capsys.readouterr().err  # captured: not a terminal, like a log file
    assert "\r" not in err and "batches" not in err
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train " in line and "val " in line and "lr " in line for line in lines)


def test_test_panel_breaks_and_marks_the_line_between_series(keyed, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    data = prepare_data(TrainConfig(data=str(keyed), key="sensor", window=8))
    tests = [len(s.y) - b for s, (_, b) in zip(data.series, data.bounds)]
    assert tests == [30, 30]  # 30 test rows per key, all of them streamed and drawn
    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: figures.append(fig))
    history = type(
        "H",
        (),
        {
            "epochs_run": 1,
            "train_loss": [1.0],
            "val_loss": [1.0],
            "best_epoch": 1,
            "grad_norms": {},
        },
    )()
    streamed = score(data, [s.y.astype(float) for s in data.series])  # a perfect "forecast"
    plot(tmp_path / "r.png", history, streamed, data)
    panel = figures[0].axes[1]
    actual = panel.lines[0].get_ydata()
    assert len(actual) == 61 and np.isnan(actual[30]) and np.isfinite(np.delete(actual, 30)).all()
    assert [ln.get_label() for ln in panel.lines[:3]] == [
        "actual",
        "forecast",
        "seasonal autoregression",
    ]
    marks = [ln for ln in panel.lines[3:] if ln.get_label() == "next series"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == 29.5
    assert "2 series" in panel.get_title() and "streamed" in panel.get_title()


def test_losing_to_the_naive_forecast_is_warned_and_recorded(tmp_path):
    out = tmp_path / "weak"
    # without the highway, one epoch of 4 units cannot beat "next = current"
    r = train("--data", "synth:sensor?n=600", "--out", out, "--no-highway", *TINY)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["beats_naive"] is False
    warning = r.stderr.strip().splitlines()[-1]
    assert warning == naive_warning(report) and warning.startswith("warning: test MSE ")
    assert "worse than the naive last-value baseline" in warning and "--no-highway" in warning
    assert report["warnings"] == [warning]
    # with it (the default), the same tiny network starts from the autoregression and beats it
    out = tmp_path / "highway"
    r = train("--data", "synth:sensor?n=600", "--out", out, *TINY)
    assert r.exit_code == 0, r.output
    assert json.loads((out / "report.json").read_text())["beats_naive"] is True


def test_beating_the_naive_forecast_gives_no_warning():
    report = {
        "metrics": {"test": {"mse": 0.1}},
        "baseline": {"naive_last_value": {"test": {"mse": 0.15}}},
    }
    assert beats_naive(report) and naive_warning(report) is None
    report["metrics"]["test"]["mse"] = 2.93
    assert naive_warning(report) == (
        "warning: test MSE 2.93 is worse than the naive last-value baseline 0.15; "
        "try the linear highway (drop --no-highway) or --arch linear to see the baseline"
    )


def test_the_warning_names_a_trend_beyond_the_training_range():
    report = {
        "metrics": {"test": {"mse": 9.0}},
        "baseline": {"naive_last_value": {"test": {"mse": 1.0}}},
        "model": {"target_mode": "level", "highway_lags": [1, 2]},
        "data": {"test_outside_train_range": 0.8},
    }
    warning = naive_warning(report)
    assert "80% of the test values lie outside the training range" in warning
    assert "--target-mode delta" in warning and "--epochs" not in warning
