"""Hostile records on ``edgernn stream`` (issue #14): each is one counted, rejected record.

Huge integers, non-finite timestamps and garbage first lines never crash the stream, never
block a key, and never put a non-JSON line on stdout: the good records around them give
exactly the outputs of a run without them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgernn.cli import main

HUGE = "9" * 5000  # over Python's 4300-digit int-from-str limit


def stream(text: str, *args: str):
    return CliRunner().invoke(main, ["stream", "--source", "-", *args], input=text)


def strict_json(line: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


def outputs(r) -> list[dict]:
    """The run's stdout as JSON objects, after checking it ended cleanly."""
    assert r.exit_code == 0, (r.exit_code, r.stderr[-500:], r.exception)
    assert "Traceback" not in r.stderr
    return [strict_json(line) for line in r.stdout.splitlines() if line.strip()]


def rejected(r) -> int:
    m = re.search(r"anomalies, (\d+) rejected", r.stderr)  # the summary line
    return int(m.group(1)) if m else 0


def jsonl(n: int = 6, key: str | None = None) -> list[str]:
    k = f'"sensor": "{key}", ' if key else ""
    return [
        f'{{{k}"timestamp": {i}, "temp": {20 + i * 0.5}, "humidity": {40 + i}}}' for i in range(n)
    ]


def assert_bad_lines_only_rejected(good: list[str], bad: dict[int, str], *args: str) -> None:
    """``bad`` lines inserted before the given indices of ``good``: rejected, nothing else."""
    clean = outputs(stream("".join(x + "\n" for x in good), *args))
    mixed_lines = []
    for i, line in enumerate(good):
        if i in bad:
            mixed_lines.append(bad[i])
        mixed_lines.append(line)
    r = stream("".join(x + "\n" for x in mixed_lines), *args)
    assert outputs(r) == clean
    assert rejected(r) == len(bad)


@pytest.mark.parametrize(
    "bad",
    [
        f'{{"timestamp": 2.5, "temp": {HUGE}, "humidity": 40}}',
        f'{{"sensor": {HUGE}, "timestamp": 2.5, "temp": 20, "humidity": 40}}',
        f'{{"sensor": "a", "timestamp": {HUGE}, "temp": 20, "humidity": 40}}',
        f'{{"sensor": "a", "timestamp": 1{"0" * 400}, "temp": 20, "humidity": 40}}',
    ],
    ids=["value", "key", "timestamp", "timestamp-beyond-float"],
)
def test_a_huge_json_integer_is_a_rejected_record(bad):
    assert_bad_lines_only_rejected(jsonl(key="a"), {3: bad}, "--key", "sensor")


def test_a_huge_integer_in_a_csv_cell_is_a_rejected_record():
    header = "timestamp,sensor,temp,humidity"
    good = [header] + [f"{i},a,{20 + i},{40 + i}" for i in range(6)]
    bad = {3: f"{HUGE},a,20,40", 4: f"7,a,{HUGE},40", 5: f"8,{HUGE},20,40"}
    # the key cell is text: a valid (long) key, so only the first two are rejected
    r = stream("".join(x + "\n" for x in good[:3] + [bad[3], bad[4]] + good[3:]), "--key", "sensor")
    assert outputs(r) == outputs(stream("".join(x + "\n" for x in good), "--key", "sensor"))
    assert rejected(r) == 2


@pytest.mark.parametrize("stamp", ["Infinity", "-Infinity", "NaN", "1e309", '"NaN"', '"inf"'])
def test_a_non_finite_timestamp_is_rejected_and_does_not_block_its_key(stamp, tmp_path):
    bad = f'{{"sensor": "a", "timestamp": {stamp}, "temp": 20, "humidity": 40}}'
    args = ("--key", "sensor")
    assert_bad_lines_only_rejected(jsonl(key="a"), {2: bad}, *args)
    # with durable state the bad timestamp is never saved: a later run resumes the key
    state = ["--state-dir", str(tmp_path / "state")]
    first = stream("".join(x + "\n" for x in jsonl(3, "a") + [bad]), *args, *state)
    assert rejected(first) == 1 and len(outputs(first)) == 3
    later = '{"sensor": "a", "timestamp": 10, "temp": 21, "humidity": 41}\n'
    again = stream(later, *args, *state)
    assert rejected(again) == 0 and [o["timestamp"] for o in outputs(again)] == [10]


def test_a_non_finite_csv_timestamp_is_rejected():
    header = "timestamp,sensor,temp,humidity"
    good = [header] + [f"{i},a,{20 + i},{40 + i}" for i in range(5)]
    assert_bad_lines_only_rejected(good, {2: "inf,a,20,40", 3: "nan,a,20,40"}, "--key", "sensor")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_utf8_bom_is_stripped(fmt):
    if fmt == "csv":
        lines = ["timestamp,temp,humidity"] + [f"{i},{20 + i},{40 + i}" for i in range(5)]
    else:
        lines = jsonl(5)
    text = "".join(x + "\n" for x in lines)
    r = stream("\ufeff" + text)
    assert outputs(r) == outputs(stream(text)) and len(outputs(r)) == 5
    assert rejected(r) == 0


@pytest.mark.parametrize(
    "garbage",
    ["\x00\x01\x7f\ufffd\ufffd binary", "\x1b[2J", "\ufffd" * 50, "[1, 2]"],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_garbage_first_line_is_one_rejected_record(garbage, fmt):
    if fmt == "csv":
        good = ["timestamp,temp,humidity"] + [f"{i},{20 + i},{40 + i}" for i in range(5)]
    else:
        good = jsonl(5)
    assert_bad_lines_only_rejected(good, {0: garbage})


def test_a_lone_carriage_return_ends_a_line():
    lines = ["timestamp,temp,humidity"] + [f"{i},{20 + i},{40 + i}" for i in range(5)]
    r = stream("".join(x + "\r" for x in lines))
    assert outputs(r) == outputs(stream("".join(x + "\n" for x in lines)))
    assert len(outputs(r)) == 5 and rejected(r) == 0


def test_random_bytes_on_stdin_end_cleanly():
    data = bytes(range(256)) * 16 + b"\r\xef\xbb\xbf\xff\xfe\r\n\x00"
    r = CliRunner().invoke(main, ["stream", "--source", "-"], input=data)
    assert r.exit_code == 0, (r.stderr[-500:], r.exception)
    assert "Traceback" not in r.stderr and rejected(r) >= 1
    assert outputs(r) == []


hostile = st.sampled_from(
    [
        f'{{"timestamp": {HUGE}, "temp": 1, "humidity": 2}}',
        '{"timestamp": Infinity, "temp": 1, "humidity": 2}',
        '{"timestamp": NaN, "temp": 1, "humidity": 2}',
        '{"timestamp": [NaN], "temp": 1, "humidity": 2}',
        '{"timestamp": 1e999, "temp": 1, "humidity": 2}',
        '{"timestamp": 3, "temp": 1e999, "humidity": 2}',
        "[1, 2]",
        "\x00\x01\x02 binary",
        "\ufffd\ufffd",
    ]
)
# any text in the middle of a stream (one line of it); no valid record can come out of it
any_line = st.text(max_size=40).map(lambda s: s.replace("\n", " ").replace("\r", " "))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile, st.dictionaries(st.integers(1, 7), hostile | any_line, max_size=4))
def test_garbage_interleaved_with_good_records_is_only_rejected(first, bad):
    # a first line that could be a CSV header decides the format, so it is hostile, not any text
    bad = {i: line for i, line in {0: first, **bad}.items() if line.strip()}
    assert_bad_lines_only_rejected(jsonl(8), bad)


def test_random_bytes_piped_into_the_real_command_are_rejected_not_a_traceback():
    # a real pipe: stdin as the interpreter opens it (strict UTF-8, \r inside lines)
    data = bytes(range(256)) * 8 + b"x,y\rz\n\xef\xbb\xbf{}\n" + b"\xff\xfe\r\n\x00" * 8
    proc = subprocess.run(
        [sys.executable, "-m", "edgernn", "stream", "--source", "-"],
        input=data,
        capture_output=True,
        timeout=120,
    )
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, stderr[-500:]
    assert "Traceback" not in stderr and "0 steps" in stderr and proc.stdout == b""
    assert re.search(r"anomalies, [1-9]\d* rejected", stderr)


# ---- friction on real feeds (issue #14, defect 10): fields the model does not read ----------
def test_extra_fields_are_accepted_with_ignore_and_named_when_every_record_is_rejected():
    good = [{"sensor": "s1", "temp": 20.0 + i / 10, "humidity": 50.0} for i in range(5)]
    extra = [{**r, "battery": 3.1, "rssi": -70} for r in good]
    lines = "".join(json.dumps(r) + "\n" for r in extra)
    r = stream(lines, "--key", "sensor")
    assert r.exit_code == 0 and r.stdout == ""  # every record rejected: nothing streamed
    assert "unexpected field(s) 'battery', 'rssi'" in r.stderr
    assert "hint: pass --ignore battery,rssi to drop those fields" in r.stderr
    accepted = stream(lines, "--key", "sensor", "--ignore", "battery,rssi")
    plain = stream("".join(json.dumps(x) + "\n" for x in good), "--key", "sensor")
    assert accepted.exit_code == plain.exit_code == 0
    assert accepted.stdout == plain.stdout and len(accepted.stdout.splitlines()) == 5
    assert "hint:" not in accepted.stderr and "0 rejected" in accepted.stderr


def test_empty_input_is_said():
    r = stream("")
    assert r.exit_code == 0 and r.stdout == ""
    assert "note: no records arrived from stdin; the input was empty" in r.stderr


def test_a_damaged_state_file_is_named_with_the_way_out(tmp_path):
    (tmp_path / "state.edgernn").write_bytes(b"garbage")
    r = stream('{"temp": 20, "humidity": 50}\n', "--state-dir", str(tmp_path))
    assert r.exit_code == 6 and r.stdout == "" and "Traceback" not in r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"error: state file {str(tmp_path / 'state.edgernn')!r} cannot be")
    assert "move it aside to start every key fresh" in line
