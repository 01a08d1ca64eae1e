"""``edgernn train forecast --calendar`` end to end: train on a CSV with ISO timestamps, export,
stream the same CSV, and find the runtime's calendar columns equal to training's bit for bit."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_checks import one_clear_line  # noqa: E402
from click.testing import CliRunner  # noqa: E402

import edgernn  # noqa: E402
from edgernn.cli import main  # noqa: E402
from edgernn.errors import DataError  # noqa: E402
from edgernn.feeds.records import CsvRows  # noqa: E402
from edgernn.serve.runner import StreamRunner  # noqa: E402
from edgernn.train.forecast.config import TrainConfig  # noqa: E402
from edgernn.train.forecast.windows import prepare_data  # noqa: E402

KINDS = ("hour", "weekday")
ROWS = 300
TINY = ["--window", "8", "--hidden", "4", "--epochs", "1", "--batch-size", "64", "--quiet"]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory) -> Path:
    """Hourly readings with a daily cycle, ISO timestamps (naive = UTC), 20 minutes past."""
    path = tmp_path_factory.mktemp("cal") / "hourly.csv"
    t0 = datetime(2026, 1, 1, 0, 20)
    lines = ["timestamp,temp"] + [
        f"{(t0 + timedelta(hours=i)).isoformat()},{20 + 5 * math.sin(2 * math.pi * i / 24):.3f}"
        for i in range(ROWS)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(csv_path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    r = run(
        "train",
        "forecast",
        "--data",
        str(csv_path),
        "--timestamp",
        "timestamp",
        "--calendar",
        ",".join(KINDS),
        "--out",
        str(out),
        *TINY,
    )
    assert r.exit_code == 0, r.output
    return out / "model.onnx"


@pytest.fixture(scope="module")
def model(trained) -> edgernn.Model:
    return edgernn.load(trained, provider="cpu")


def test_the_exported_signature_declares_the_calendar(model, trained):
    sig = model.signature
    assert sig.calendar == KINDS
    assert sig.features == ("temp", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos")
    assert sig.inputs[0].shape[-1] == 5  # the graph just has more input columns
    r = run("inspect", str(trained))
    assert r.exit_code == 0, r.output
    assert "calendar     hour, weekday: the last 4 features" in r.stdout


def test_runtime_rows_are_the_training_rows_bit_for_bit(model, csv_path):
    """The runtime's feature rows (calendar computed from each CSV record's timestamp), scaled,
    are the bits of training's first window: the calendar columns included."""
    cfg = TrainConfig(
        data=str(csv_path), timestamp="timestamp", calendar=KINDS, window=8, hidden=(4,)
    )
    data = prepare_data(cfg)
    assert data.features == model.signature.features
    trained_x = data.parts["train"].x[0][:8]  # (T, F) model units, rows 0..7 of the file
    lines = csv_path.read_text().splitlines()
    parser = StreamRunner(model).parser  # as `edgernn stream` builds it
    rows = CsvRows(lines[0], parser)
    live = np.stack([rows.parse(line).values for line in lines[1:9]])  # (T, F) user units
    assert live[:, 1:].any()  # the calendar columns are really there
    runtime_x = model.signature.input_scaler.transform(live)  # (T, F) model units
    assert runtime_x.tobytes() == trained_x.tobytes()


def test_stream_over_the_training_csv_forecasts_every_row(trained, csv_path):
    r = run("stream", str(trained), "--source", str(csv_path))
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == ROWS and f"{ROWS} steps" in r.stderr and "0 rejected" in r.stderr
    assert out[0]["timestamp"] == "2026-01-01T00:20:00"
    assert all(math.isfinite(o["forecast"]["temp"]) for o in out)


def test_a_record_without_timestamp_is_set_aside_and_the_stream_goes_on(trained, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    lines = [
        {"temp": 20.0, "timestamp": "2026-02-01T10:00:00"},
        {"temp": 20.5},
        {"temp": 21.0, "timestamp": "at ten"},
        {"temp": 21.5, "timestamp": "2026-02-01T11:00:00Z"},
    ]
    r = run(
        "stream",
        str(trained),
        "--source",
        "-",
        "--rejects",
        str(rejects),
        input="".join(json.dumps(x) + "\n" for x in lines),
    )
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["step"] for x in r.stdout.splitlines()] == [1, 2]
    reasons = [json.loads(x)["reason"] for x in rejects.read_text().splitlines()]
    assert reasons[0].startswith("no 'timestamp' field: this model computes its calendar")
    assert "'at ten' is neither ISO-8601 time nor epoch seconds" in reasons[1]
    assert "2 rejected" in r.stderr


def test_stream_step_computes_the_calendar_from_the_timestamp(model):
    iso = model.stream().step({"temp": 21.0, "timestamp": "2026-01-05T06:00:00"})
    epoch = model.stream().step({"temp": 21.0, "timestamp": 1767592800})
    # the same step given as the whole row, calendar columns in feature order
    from edgernn.calendar import calendar_values

    row = [21.0, *calendar_values(1767592800.0, KINDS)]
    whole = model.stream().step(row)
    assert iso.forecast == epoch.forecast == whole.forecast
    s = model.stream()
    batch = s.steps([{"temp": 21.0, "timestamp": 1767592800}, {"temp": 21.5, "timestamp": 0}])
    assert batch[0].forecast == pytest.approx(iso.forecast, abs=1e-5)
    with pytest.raises(DataError, match="no 'timestamp' field: this model computes"):
        model.stream().step({"temp": 21.0})


@pytest.mark.parametrize(
    "args, words",
    [
        (["--calendar", "hour"], ["--calendar hour is computed", "--timestamp"]),
        (
            ["--calendar", "hour,month", "--timestamp", "timestamp"],
            ["'month' is not a calendar feature", "choose from hour, weekday, yearday"],
        ),
    ],
)
def test_calendar_options_that_cannot_work_are_one_clear_line(csv_path, tmp_path, args, words):
    r = run("train", "forecast", "--data", str(csv_path), "--out", str(tmp_path), *TINY, *args)
    one_clear_line(r, 2, *words)


def test_a_timestamp_cell_that_is_not_a_time_names_the_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,temp\n2026-01-01T00:00:00,1\nlater,2\n")
    r = run(
        "train",
        "forecast",
        "--data",
        str(bad),
        "--timestamp",
        "timestamp",
        "--calendar",
        "hour",
        "--out",
        str(tmp_path),
        *TINY,
    )
    one_clear_line(r, 5, "line 3", "'later'")
