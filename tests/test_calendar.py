"""Calendar features (``edgernn.calendar``): timestamps read the same in every spelling, the
values are points on the unit circle that repeat with their period, and the signature carries
the kinds without changing models that have none."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgernn
from edgernn.calendar import (
    KINDS,
    calendar_values,
    check_kinds,
    column_names,
    parse_time,
    with_calendar,
)
from edgernn.errors import RecordError, SignatureError, UsageError
from edgernn.signature import METADATA_KEY, Scaler, Signature

MONDAY_6AM = 1767592800  # 2026-01-05T06:00:00Z, a Monday
SECONDS = st.integers(-(2**40), 2**40)  # +-35,000 years around 1970, whole seconds


def test_every_spelling_of_one_instant_is_the_same_time():
    spellings = [
        "2026-01-05T06:00:00",  # naive: UTC
        "2026-01-05T06:00:00Z",
        "2026-01-05 06:00:00+00:00",
        "2026-01-05T07:30:00+01:30",
        "2026-01-04T22:00:00-08:00",
        MONDAY_6AM,
        float(MONDAY_6AM),
        str(MONDAY_6AM),
        f" {MONDAY_6AM}.0 ",
    ]
    assert {parse_time(s) for s in spellings} == {float(MONDAY_6AM)}


def test_fractional_seconds_are_kept():
    assert parse_time("1970-01-01T00:00:01.250000Z") == 1.25 == parse_time("1.25")


@pytest.mark.parametrize(
    "value, words",
    [
        ("yesterday", "'yesterday' is neither ISO-8601 time nor epoch seconds"),
        ("", "neither ISO-8601 time nor epoch seconds"),
        (None, "timestamp is empty (null), not a time"),
        (True, "timestamp is a bool, not a time"),
        ([2026, 1, 5], "timestamp is a list, not a time"),
        ("nan", "not a finite number of epoch seconds"),
        (float("inf"), "not a finite number of epoch seconds"),
    ],
)
def test_anything_else_is_a_record_error_naming_the_value_and_the_fix(value, words):
    with pytest.raises(RecordError, match="timestamp") as e:
        parse_time(value)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_each_kind_is_zero_at_its_documented_origin():
    """hour: midnight UTC; weekday: Monday 00:00 UTC; yearday: the epoch."""
    monday = datetime(2026, 1, 5, tzinfo=timezone.utc).timestamp()
    assert calendar_values(monday, ("hour", "weekday")) == [0.0, 1.0, 0.0, 1.0]
    assert calendar_values(0.0, ("yearday",)) == [0.0, 1.0]
    # a quarter of each cycle later: sin 1, cos 0
    quarter = [
        calendar_values(monday + 6 * 3600, ("hour",)),
        calendar_values(monday + 42 * 3600, ("weekday",)),
        calendar_values(365.2425 * 86400 / 4, ("yearday",)),
    ]
    for s, c in quarter:
        assert s == pytest.approx(1.0, abs=1e-12) and c == pytest.approx(0.0, abs=1e-12)


def test_yearday_stays_within_a_day_of_new_year():
    year = 365.2425 * 86400
    for y in (1900, 2000, 2026, 2100, 2369):
        t = datetime(y, 1, 1, tzinfo=timezone.utc).timestamp()
        off = (t % year) if (t % year) < year / 2 else (t % year) - year
        assert abs(off) < timedelta(days=1).total_seconds(), y


@settings(max_examples=300)
@given(SECONDS, st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=3, unique=True))
def test_every_pair_lies_on_the_unit_circle(t, kinds):
    values = calendar_values(float(t), kinds)
    assert len(values) == 2 * len(kinds)
    for s, c in zip(values[::2], values[1::2]):
        assert math.isclose(s * s + c * c, 1.0, abs_tol=1e-12)


@settings(max_examples=300)
@given(SECONDS, st.integers(-1000, 1000), st.sampled_from(sorted(KINDS)))
def test_values_repeat_exactly_after_whole_periods(t, k, kind):
    period = KINDS[kind][0]  # a whole number of seconds, so the phase is exact
    assert calendar_values(float(t), (kind,)) == calendar_values(float(t) + k * period, (kind,))


def test_kinds_are_checked_and_named():
    assert column_names(("hour", "yearday")) == (
        "hour_sin",
        "hour_cos",
        "yearday_sin",
        "yearday_cos",
    )
    with pytest.raises(UsageError, match="'month' is not a calendar feature; choose from hour"):
        check_kinds(("hour", "month"))
    with pytest.raises(UsageError, match="'hour' is given twice"):
        check_kinds(("hour", "hour"))


def test_a_record_gets_its_columns_and_must_not_bring_them():
    row = with_calendar({"temp": 1.0, "timestamp": "2026-01-05T06:00:00Z"}, ("hour",))
    assert row["temp"] == 1.0 and row["hour_sin"] == 1.0
    with pytest.raises(RecordError, match="no 'timestamp' field: this model computes"):
        with_calendar({"temp": 1.0}, ("hour",))
    with pytest.raises(RecordError, match="hour_cos is computed from the timestamp; leave it out"):
        with_calendar({"temp": 1.0, "timestamp": 0, "hour_cos": 1.0}, ("hour",))


# ---- the signature ---------------------------------------------------------------------------
def signature(features: tuple[str, ...], calendar: tuple[str, ...]) -> Signature:
    n = len(features)
    return Signature(
        task="forecast",
        arch="gru",
        layers=(4,),
        features=features,
        targets=("temp",),
        states=(),
        input_scaler=Scaler("standard", (0.0,) * n, (1.0,) * n),
        target_scaler=Scaler("standard", (0.0,), (1.0,)),
        calendar=calendar,
    )


def test_the_signature_carries_the_kinds_through_json():
    sig = signature(("temp", "hour_sin", "hour_cos"), ("hour",))
    assert json.loads(sig.to_json())["calendar"] == ["hour"]
    assert Signature.from_json(sig.to_json()) == sig
    assert sig.inputs[0].shape == ("batch", "time", 3)  # the graph just has more columns


def test_a_signature_without_calendar_writes_the_json_it_always_wrote():
    sig = signature(("temp",), ())
    assert "calendar" not in json.loads(sig.to_json())
    assert Signature.from_json(sig.to_json()).calendar == ()


@pytest.mark.parametrize(
    "features, calendar, words",
    [
        (("temp", "hour_sin", "hour_cos"), ("month",), "'month', which this edgernn does not know"),
        (("hour_sin", "hour_cos", "temp"), ("hour",), "needs the last features to be hour_sin"),
    ],
)
def test_a_signature_whose_calendar_cannot_work_is_refused(features, calendar, words):
    with pytest.raises(SignatureError, match=words):
        signature(features, calendar)


def test_the_shipped_model_has_no_calendar_and_streams_as_before(model):
    import onnxruntime as ort

    path = edgernn.default_model_path()
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    raw = json.loads(meta.get_modelmeta().custom_metadata_map[METADATA_KEY])
    assert "calendar" not in raw and model.signature.calendar == ()
    s = model.stream()
    by_name = s.step({"temp": 21.0, "humidity": 55.0, "timestamp": "2026-01-05T06:00:00"})
    assert by_name.forecast == model.stream().step([21.0, 55.0]).forecast
