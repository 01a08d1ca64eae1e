"""Records for a model with calendar features: the parser computes the calendar columns from
each record's timestamp (JSON or CSV, ISO-8601 or epoch seconds, all the same bits), and a
record without a usable timestamp is a bad record with its reason."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.calendar import calendar_values, parse_time
from edgernn.errors import DataError, RecordError
from edgernn.feeds.records import CsvRows, RecordParser

KINDS = ("hour", "weekday", "yearday")
FEATURES = (
    "temp",
    "humidity",
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
    "yearday_sin",
    "yearday_cos",
)
P = RecordParser(FEATURES, key_field="sensor", calendar=KINDS)


def test_json_iso_json_epoch_and_csv_cells_give_the_same_row():
    rows = [
        P.parse_json('{"sensor": "a", "temp": 21.5, "humidity": 40, "timestamp": 1767592800}'),
        P.parse_json(
            '{"sensor": "a", "temp": 21.5, "humidity": 40, "timestamp": "2026-01-05T07:00+01:00"}'
        ),
        CsvRows("timestamp,sensor,temp,humidity", P).parse("2026-01-05T06:00:00,a,21.5,40"),
        CsvRows("sensor,temp,humidity,timestamp", P).parse("a,21.5,40,1767592800.0"),
    ]
    want = np.float32([21.5, 40.0, *calendar_values(1767592800.0, KINDS)])  # (F,)
    for r in rows:
        assert r.values.dtype == np.float32 and r.values.tobytes() == want.tobytes()
        assert r.key == "a"
    # the timestamp itself still passes through as the record gave it
    assert [r.timestamp for r in rows] == [
        1767592800,
        "2026-01-05T07:00+01:00",
        "2026-01-05T06:00:00",
        1767592800.0,
    ]


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"sensor": "a", "temp": 1, "humidity": 2}', "no 'timestamp' field: this model computes"),
        (
            '{"sensor": "a", "temp": 1, "humidity": 2, "timestamp": "soon"}',
            "timestamp 'soon' is neither ISO-8601 time nor epoch seconds",
        ),
        (
            '{"sensor": "a", "temp": 1, "humidity": 2, "timestamp": null}',
            "timestamp is empty (null)",
        ),
        (
            '{"sensor": "a", "temp": 1, "humidity": 2, "timestamp": 0, "hour_sin": 0.5}',
            "hour_sin is computed from the timestamp; leave it out of the record",
        ),
        (
            '{"sensor": "a", "temp": 1, "humidity": 2, "timestamp": 0, "rain": 1}',
            "unexpected field(s) 'rain'; the model takes temp, humidity and a 'timestamp'",
        ),
        ('{"sensor": "a", "temp": 1, "timestamp": 0}', "missing feature(s) humidity"),
    ],
)
def test_a_record_without_a_usable_timestamp_is_a_bad_record_with_its_reason(line, reason):
    with pytest.raises(RecordError) as e:
        P.parse_json(line)
    assert reason in str(e.value)


def test_a_bad_csv_timestamp_cell_is_one_bad_record():
    rows = CsvRows("timestamp,sensor,temp,humidity", P)
    with pytest.raises(RecordError, match="timestamp '' is neither"):
        rows.parse(",a,21.5,40")
    want = np.float32([21.5, 40.0, *calendar_values(0, KINDS)])  # the epoch, a Thursday
    assert rows.parse("0,a,21.5,40").values.tobytes() == want.tobytes()


def test_a_csv_header_without_the_timestamp_stops_the_stream_with_the_fix():
    with pytest.raises(
        DataError, match="no 'timestamp' column .* add it, or name it with --timestamp"
    ):
        CsvRows("sensor,temp,humidity", P)
    named = RecordParser(FEATURES, timestamp_field="time", calendar=KINDS)
    r = CsvRows("time,temp,humidity", named).parse("2026-01-05T06:00:00,1,2")
    assert (
        r.values[2:].tolist() == np.float32(calendar_values(parse_time(1767592800), KINDS)).tolist()
    )


def test_a_csv_header_with_calendar_columns_is_refused_naming_the_inputs():
    with pytest.raises(DataError, match="'hour_sin', 'hour_cos' are not inputs .* temp, humidity"):
        CsvRows("timestamp,sensor,temp,humidity,hour_sin,hour_cos", P)


def test_a_model_without_calendar_is_parsed_as_before():
    plain = RecordParser(("temp", "humidity"), key_field="sensor")
    r = plain.parse_json('{"sensor": "a", "temp": 21.5, "humidity": 40, "timestamp": "noon"}')
    assert r.values.tolist() == [21.5, 40.0] and r.timestamp == "noon"
    with pytest.raises(RecordError, match="unexpected field.*'hour_sin'; the model takes temp"):
        plain.parse_json('{"sensor": "a", "temp": 1, "humidity": 2, "hour_sin": 0}')
