"""The record parser: every line is either a clean record or a RecordError, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.errors import DataError, RecordError
from edgernn.feeds.keys import key_value
from edgernn.feeds.records import CsvRows, RecordParser

P = RecordParser(("temp", "humidity"), key_field="sensor")


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text_line_is_a_record_or_a_record_error(line):
    try:
        r = P.parse_json(line)
    except RecordError:
        return
    assert r.values.shape == (2,) and np.isfinite(r.values).all()


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.dictionaries(st.sampled_from(["temp", "humidity", "sensor", "timestamp", "x"]), json_values)
)
def test_any_json_object_is_a_record_or_a_record_error(obj):
    try:
        r = P.parse_json(json.dumps(obj))
    except RecordError:
        return
    assert set(obj) <= {"temp", "humidity", "sensor", "timestamp"}
    assert r.values.tolist() == pytest.approx([obj["temp"], obj["humidity"]], rel=1e-6)


@given(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
def test_good_values_round_trip_exactly(t, h):
    r = P.parse_json(json.dumps({"sensor": 7, "temp": t, "humidity": h}))
    assert key_value(r.key) == 7 and r.values.tolist() == [t, h]  # the number 7, not "7"


def test_deeply_nested_json_is_rejected_not_crashed():
    with pytest.raises(RecordError):
        P.parse_json("[" * 100_000 + "]" * 100_000)


def test_huge_line_is_rejected():
    with pytest.raises(RecordError, match="longer than"):
        P.parse_json('{"temp": 1, "humidity": 2, "pad": "' + "x" * (2 << 20) + '"}')


def test_csv_rows_parse_against_the_header():
    rows = CsvRows("sensor,temp,humidity", P)
    assert rows.parse("a,1.5,2").values.tolist() == [1.5, 2.0]
    with pytest.raises(RecordError, match="4 cells"):
        rows.parse("a,1.5,2,9")
    with pytest.raises(RecordError, match="not a number"):
        rows.parse("a,warm,2")


def test_csv_header_without_a_feature_is_a_data_error():
    with pytest.raises(DataError, match="'humidity'"):
        CsvRows("sensor,temp", P)


def test_missing_key_is_a_record_error():
    with pytest.raises(RecordError, match="key field"):
        P.parse_json('{"temp": 1, "humidity": 2}')


UNKEYED = RecordParser(("temp", "humidity"))


@pytest.mark.parametrize(
    "parser", [UNKEYED, RecordParser(("temp", "humidity"), key_field="device")]
)
def test_a_csv_key_column_without_its_key_option_names_the_fix(parser):
    with pytest.raises(DataError, match=r"\(is 'sensor' the key\? pass --key sensor\)$"):
        CsvRows("sensor,temp,humidity", parser)


def test_a_csv_time_column_under_another_name_points_at_timestamp():
    with pytest.raises(DataError, match=r"pass --timestamp ts\)$"):
        CsvRows("ts,temp,humidity", UNKEYED)


def test_no_key_hint_when_the_extra_columns_are_not_one_missing_key():
    for header in ("sensor,x,temp,humidity", "a,b,c,temp,humidity"):
        with pytest.raises(DataError) as e:
            CsvRows(header, UNKEYED)
        assert "--key" not in str(e.value)
    with pytest.raises(DataError) as e:
        CsvRows("sensor,x,temp,humidity", P)  # the key is there; 'x' is just not an input
    assert "--key" not in str(e.value)


@pytest.mark.parametrize(
    "cell, want",
    [
        ("0", 0),
        ("42", 42),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("1_000", "1_000"),
        ("", ""),
    ],
)
def test_csv_timestamps_that_read_as_numbers_pass_through_as_numbers(cell, want):
    r = CsvRows("timestamp,temp,humidity", UNKEYED).parse(f"{cell},1,2")
    assert r.timestamp == want and type(r.timestamp) is type(want)
    # as JSON
    assert (
        UNKEYED.parse_json(json.dumps({"timestamp": want, "temp": 1, "humidity": 2})).timestamp
        == want
    )
