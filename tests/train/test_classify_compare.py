"""`edgernn compare --task classify`: the temporal CNN and LSTM + attention trained on the same
data, side by side (accuracy, parameters, step latency)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from cli_checks import one_clear_line  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from test_classify_splits import ts_file  # noqa: E402

from edgernn.cli import main  # noqa: E402


def test_compare_classifiers_side_by_side(tmp_path):
    train, test = ts_file(tmp_path / "S_TRAIN.ts", 18, 0), ts_file(tmp_path / "S_TEST.ts", 9, 1)
    r = CliRunner().invoke(
        main,
        ["compare", "--task", "classify", "--data", str(train), "--test-data", str(test),
         "--hidden", "8", "--epochs", "2", "--steps", "30", "--json", "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    rows = {row["arch"]: row for row in result["archs"]}
    assert list(rows) == ["tcn", "lstm"]
    assert all(row["pooling"] == " + attention + max pool" for row in rows.values())
    lstm, tcn = rows["lstm"], rows["tcn"]
    # small data: 5 members, each [h, attention, max] (24) -> 3 classes
    assert lstm["params"] == 5 * (4 * (2 * 8 + 8 * 8 + 2 * 8) + 8 * 8 + 8 + 8 + 24 * 3 + 3)
    assert tcn["params"] == 5 * ((2 * 3 * 8 + 8) + 8 * 8 + 8 + 8 + 24 * 3 + 3)
    for row in rows.values():
        assert 0 <= row["test_accuracy"] <= 1 and row["majority_accuracy"] == pytest.approx(1 / 3)
        assert 0 < row["step_us"]["p50"] <= row["step_us"]["p99"]


def test_compare_classify_needs_data_and_known_archs(tmp_path):
    one_clear_line(CliRunner().invoke(main, ["compare", "--task", "classify"]), 2, "--data")
    train = ts_file(tmp_path / "S_TRAIN.ts", 9, 0)
    r = CliRunner().invoke(
        main, ["compare", "--task", "classify", "--data", str(train), "--archs", "tcn,cnn3d"]
    )
    one_clear_line(r, 2, "cnn3d", "rnn, lstm, gru, tcn")
