"""`edgernn stream` and `edgernn inspect` from the user's side: success and every error path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

from edgernn.cli import main
from edgernn.feeds.synth import sensor_signal

DATA = Path(__file__).parent.parent / "data"


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def out_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_demo_feed_prints_one_json_line_per_step_and_a_summary():
    r = run("stream", "--source", "demo", "--limit", "200")
    assert r.exit_code == 0, r.output
    lines = out_lines(r)
    assert len(lines) == 200
    assert set(lines[-1]) >= {"step", "forecast", "anomaly_score", "anomaly"}
    assert set(lines[-1]["forecast"]) == {"temp"}
    assert [x["step"] for x in lines] == list(range(1, 201))
    assert "200 steps" in r.stderr and "p50" in r.stderr and "p99" in r.stderr


def test_demo_feed_finds_the_injected_anomalies():
    r = run("stream", "--source", "demo")
    flagged = [x["timestamp"] for x in out_lines(r) if x["anomaly"]]
    assert flagged, "the demo feed has injected spikes and dips; some must be flagged"


def test_piped_jsonl_with_keys_gives_each_key_its_own_state(rows):
    lines = []
    for t, h in rows[:30]:
        lines.append(json.dumps({"sensor": "a", "temp": float(t), "humidity": float(h)}))
        lines.append(json.dumps({"sensor": "b", "temp": float(t) + 5, "humidity": float(h)}))
    r = run("stream", "--key", "sensor", input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.output
    out = out_lines(r)
    a = [x for x in out if x["key"] == "a"]
    only_a = [json.dumps({"temp": float(t), "humidity": float(h)}) for t, h in rows[:30]]
    alone = out_lines(run("stream", input="\n".join(only_a) + "\n"))
    assert [x["forecast"] for x in a] == [x["forecast"] for x in alone]
    assert [x["step"] for x in a] == list(range(1, 31))


def test_csv_file_source(tmp_path, rows):
    f = tmp_path / "live.csv"
    f.write_text(
        "timestamp,temp,humidity\n"
        + "".join(f"{i},{t},{h}\n" for i, (t, h) in enumerate(rows[:20]))
    )
    r = run("stream", "--source", str(f))
    assert r.exit_code == 0, r.output
    out = out_lines(r)
    # a numeric cell is a number, as in JSON input
    assert len(out) == 20 and out[3]["timestamp"] == 3


def test_bad_records_are_counted_set_aside_and_do_not_disturb_good_ones(tmp_path, rows):
    good = [json.dumps({"temp": float(t), "humidity": float(h)}) for t, h in rows[:40]]
    bad = [
        '{"temp": NaN, "humidity": 1}',
        "not json",
        '{"temp": 1}',
        '{"temp": 1, "humidity": 2, "x": 3}',
        '{"temp": "21", "humidity": 2}',
        "[1, 2]",
        '{"temp": Infinity, "humidity": 2}',
    ]
    mixed = good[:10] + bad[:4] + good[10:25] + bad[4:] + good[25:]
    rejects = tmp_path / "rejects.jsonl"
    r = run("stream", "--rejects", str(rejects), input="\n".join(mixed) + "\n")
    assert r.exit_code == 0, r.output
    clean = run("stream", input="\n".join(good) + "\n")
    assert out_lines(r) == out_lines(clean)
    rej = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert len(rej) == len(bad) and all(x["reason"] for x in rej)
    assert "7 rejected" in r.stderr


def test_limit_counts_input_records():
    r = run("stream", "--source", "demo", "--limit", "7")
    assert len(out_lines(r)) == 7


def test_summary_json_file(tmp_path):
    path = tmp_path / "summary.json"
    r = run("stream", "--source", "demo", "--limit", "50", "--summary", str(path), "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    s = json.loads(path.read_text())
    assert (
        s["steps"] == 50
        and s["provider"] == "cpu"
        and s["latency_us"]["p99"] >= s["latency_us"]["p50"]
    )


def test_missing_model_is_one_clear_line():
    one_clear_line(run("stream", "nope.onnx", "--source", "demo"), 3, "nope.onnx", "does not exist")


def test_model_without_signature_is_refused():
    one_clear_line(
        run("stream", str(DATA / "no-signature.onnx"), "--source", "demo"),
        3,
        "no edgernn.signature",
    )


def test_garbage_model_file_is_refused(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00not an onnx graph" * 10)
    one_clear_line(run("stream", str(bad), "--source", "demo"), 3, "junk.onnx", "cannot be loaded")


def test_csv_missing_a_feature_column_is_one_clear_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("timestamp,temp\n1,20.0\n")
    one_clear_line(run("stream", "--source", str(f)), 5, "'humidity'")


def test_missing_source_file_is_one_clear_line():
    one_clear_line(run("stream", "--source", "nowhere.csv"), 5, "nowhere.csv")


def test_unknown_flag_is_one_usage_line():
    r = run("stream", "--frobnicate", "3")
    one_clear_line(r, 2)
    assert r.stderr == (
        "error: no such option '--frobnicate' (did you mean '--format'?); "
        "see 'edgernn stream --help'\n"
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["stream", "--limit", "x"],
            ["invalid value for '--limit'", "'x'", "see 'edgernn stream --help'"],
        ),
        (["stream", "--limit"], ["'--limit' requires an argument", "see 'edgernn stream --help'"]),
        (["stream", "--format", "xml"], ["'xml' is not one of", "see 'edgernn stream --help'"]),
        (["export"], ["missing argument 'CHECKPOINT'", "see 'edgernn export --help'"]),
        (
            ["inspect", "a.onnx", "b.onnx"],
            ["unexpected extra argument (b.onnx)", "see 'edgernn inspect --help'"],
        ),
        (["frobnicate"], ["no such command 'frobnicate'", "see 'edgernn --help'"]),
        (["--frobnicate"], ["no such option '--frobnicate'", "see 'edgernn --help'"]),
        (["train", "frobnicate"], ["no such command 'frobnicate'", "see 'edgernn train --help'"]),
        (
            ["stream", "--thr"],
            ["no such option '--thr' (did you mean one of: '--threads', '--threshold'?)"],
        ),
    ],
)
def test_every_usage_error_is_one_line_with_exit_2(args, words):
    one_clear_line(run(*args), 2, *words)


def test_help_is_still_click_help():
    assert (
        run("stream", "--help").exit_code == 0
        and "Usage: edgernn stream" in run("stream", "--help").stdout
    )
    bare = run()  # no command: the group's help, as click shows it
    assert (
        bare.exit_code == 2
        and "Usage: edgernn [OPTIONS] COMMAND" in bare.output
        and "error:" not in bare.output
    )


@pytest.mark.parametrize(
    "command", ["stream", "inspect", "generate", "classify", "bench", "verify"]
)
def test_a_directory_as_model_is_a_model_error(command, tmp_path):
    one_clear_line(run(command, str(tmp_path)), 3, repr(str(tmp_path)), "is a directory")


def test_ctrl_c_outside_the_stream_loop_says_interrupted_and_exits_130(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("edgernn.cli.inspect_cmd.load", interrupted)
    r = run("inspect")
    assert (r.exit_code, r.stderr, r.stdout) == (130, "interrupted\n", "")


def test_a_closed_stdout_ends_the_stream_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgernn", "stream", "--source", "demo", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()  # like `| head -1`: read one line, then go away
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and err == b"", err.decode()
    assert json.loads(first)["step"] == 1


def test_limit_cuts_the_demo_feed_without_changing_it():
    full = out_lines(run("stream", "--source", "demo", "--quiet"))
    assert full[0]["forecast"]["temp"] == 17.668554306030273  # the README's first line
    for n in (1, 2, 50, 999):
        assert (
            out_lines(run("stream", "--source", "demo", "--limit", str(n), "--quiet")) == full[:n]
        )
    longer = out_lines(run("stream", "--source", "demo", "--limit", "1500", "--quiet"))
    assert longer[:1000] == full and [x["timestamp"] for x in longer[1000:]] == list(
        range(1000, 1500)
    )


def test_a_csv_key_column_without_key_names_the_option(tmp_path, rows):
    f = tmp_path / "keyed.csv"
    f.write_text("sensor,temp,humidity\n" + "".join(f"a,{t},{h}\n" for t, h in rows[:5]))
    one_clear_line(run("stream", "--source", str(f)), 5, "'sensor'", "pass --key sensor")
    one_clear_line(run("stream", "--source", str(f), "--key", "device"), 5, "pass --key sensor")
    assert run("stream", "--source", str(f), "--key", "sensor").exit_code == 0


def _with_signature(text: str, tmp_path: Path) -> Path:
    """no-signature.onnx plus an edgernn.signature metadata entry holding ``text`` (protobuf
    ModelProto field 14, appended: no onnx package needed)."""

    def field(tag: int, payload: bytes) -> bytes:
        n, size = len(payload), b""
        while True:
            size += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return bytes([tag]) + size + payload

    entry = field(0x0A, b"edgernn.signature") + field(0x12, text.encode())
    path = tmp_path / "odd-signature.onnx"
    path.write_bytes((DATA / "no-signature.onnx").read_bytes() + field(0x72, entry))
    return path


@pytest.mark.parametrize(
    "text, words",
    [
        ('{"schema": 99}', ["schema 99", "upgrade edgernn"]),
        ("{not json", ["not valid JSON"]),
        ('{"schema": 1}', ["lacks the field", "re-export"]),
    ],
)
def test_signature_problems_name_the_model_file(tmp_path, text, words):
    path = _with_signature(text, tmp_path)
    one_clear_line(run("inspect", str(path)), 3, repr(str(path)), *words)


def test_cuda_on_a_machine_without_it_is_an_error_not_a_fallback():
    from edgernn.core.providers import cuda_missing

    if cuda_missing() is None:
        pytest.skip("this machine may run CUDA")
    one_clear_line(run("stream", "--provider", "cuda", "--source", "demo"), 4, "cuda")


def test_inspect_human_and_json():
    r = run("inspect")
    assert r.exit_code == 0 and "lstm" in r.stdout and "temp" in r.stdout
    sig = json.loads(run("inspect", "--json").stdout)
    assert (
        sig["task"] == "forecast" and sig["schema"] == 1 and sig["features"] == ["temp", "humidity"]
    )


def test_default_source_is_demo_on_a_terminal_and_stdin_when_piped(monkeypatch):
    import io
    from contextlib import ExitStack

    from edgernn.cli import stream_cmd

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty(""))
    items, _ = stream_cmd._items(None, "auto", 3, ExitStack())
    assert [pos for pos, _ in items] == [1, 2, 3]  # the demo feed
    monkeypatch.setattr("sys.stdin", io.StringIO('{"temp": 1, "humidity": 2}\n'))
    items, _ = stream_cmd._items(None, "auto", None, ExitStack())
    assert list(items) == [(1, '{"temp": 1, "humidity": 2}')]


@pytest.mark.parametrize(
    "stdin, lines", [(subprocess.DEVNULL, 1000), (b'{"temp": 1, "humidity": 2}\n', 1), (b"", 0)]
)
def test_stdin_at_dev_null_means_the_demo_and_piped_data_is_read(stdin, lines, tmp_path):
    """cron, CI and nohup start programs with stdin at /dev/null: that is no data, so the demo
    (the README's quick start must print forecasts there too); a pipe, even an empty one, is
    read."""
    cmd = [sys.executable, "-m", "edgernn", "stream", "--quiet"]
    if stdin is subprocess.DEVNULL:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    else:
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == lines


def test_unwritable_rejects_file_is_one_clear_line(tmp_path):
    one_clear_line(
        run("stream", "--source", "demo", "--rejects", str(tmp_path / "no" / "such" / "dir.jsonl")),
        5,
        "dir.jsonl",
    )


def wait_until(check, what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it holds; the timeout is only a guard against a hang."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_periodic_status_lines_go_to_stderr_for_logs(rows):
    """Status lines come from a clock, so the test waits for what they must say instead of
    reading the last one: a line after steps gives their latency, a line while the input is
    quiet says so (either can be the last, depending on how the run is scheduled)."""
    records = [json.dumps({"temp": float(t), "humidity": float(h)}) + "\n" for t, h in rows]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgernn", "stream", "--status-every", "0.05"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=out.extend, args=(proc.stdout,), daemon=True),
        threading.Thread(target=err.extend, args=(proc.stderr,), daemon=True),
    ]
    [t.start() for t in readers]
    try:
        proc.stdin.writelines(records)
        proc.stdin.flush()
        wait_until(
            lambda: any(x.startswith("status: ") and "p99" in x for x in err),
            "a status line with latencies",
        )
        wait_until(
            lambda: any(
                x.startswith(f"status: {len(rows)} steps (") and "no steps since the last line" in x
                for x in err
            ),
            "a status line while the input is quiet",
        )
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, "".join(err)
        [t.join(60) for t in readers]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = [x for x in err if x.startswith("status: ")]
    assert all("steps (" in x and "key(s)" in x and "rejected" in x for x in status), status
    assert [x for x in err if not x.startswith("status: ")] == [
        err[-1]
    ] and f"{len(rows)} steps" in err[-1]
    # stdout holds only the outputs
    assert [json.loads(x)["step"] for x in out] == list(range(1, len(rows) + 1))


def test_outputs_reach_a_pipe_while_the_live_input_is_quiet(rows):
    """Python buffers a piped stdout: without a flush the outputs of a slow live feed would sit
    there until 8 KB more came (for hours) or the stream ended. They go out whenever the input
    is drained. PYTHONUNBUFFERED is dropped: a service or a shell pipeline does not set it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgernn", "stream", "--quiet"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: list[str] = []
    threading.Thread(target=out.extend, args=(proc.stdout,), daemon=True).start()
    try:
        proc.stdin.writelines(
            json.dumps({"temp": float(t), "humidity": float(h)}) + "\n" for t, h in rows[:3]
        )
        proc.stdin.flush()  # and the input stays open, quiet
        wait_until(
            lambda: len(out) == 3 or proc.poll() is not None, "the outputs of the first records"
        )
        assert [json.loads(x)["step"] for x in out] == [1, 2, 3]
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stream_policies_are_reported_in_the_summary(tmp_path, rows):
    lines = [
        json.dumps({"sensor": "a", "timestamp": ts, "temp": float(t), "humidity": float(h)})
        for ts, (t, h) in zip([0, 1, 1, 50, 51], rows)
    ]
    summary = tmp_path / "s.json"
    r = run(
        "stream",
        "--key",
        "sensor",
        "--gap-limit",
        "10",
        "--gap",
        "reset",
        "--summary",
        str(summary),
        input="\n".join(lines) + "\n",
    )
    s = json.loads(summary.read_text())
    assert (s["steps"], s["rejected"], s["gaps"]) == (4, 1, 1)
    assert [o["step"] for o in out_lines(r)] == [1, 2, 1, 2]
    assert "1 gaps" in r.stderr


def ramp_lines(seed: int = 0, at: int = 800, steps: int = 300, per_step: float = 0.006) -> str:
    """The demo sensor (no spikes) as JSON lines, temp ramping up by ``per_step`` degrees a
    step (0.02 residual std) for ``steps`` steps from record ``at``."""
    s = sensor_signal(at + steps, seed=seed, anomaly_rate=0.0)
    ramp = per_step * np.maximum(np.arange(at + steps) - at, 0)
    return "".join(
        json.dumps({"timestamp": i, "temp": float(t) + float(r), "humidity": float(h)}) + "\n"
        for i, (t, h, r) in enumerate(zip(s["temp"], s["humidity"], ramp))
    )


def test_a_slow_ramp_is_flagged_as_drift_and_the_line_says_so(tmp_path):
    summary = tmp_path / "s.json"
    r = run("stream", "--summary", str(summary), input=ramp_lines())
    assert r.exit_code == 0, r.output
    out = out_lines(r)
    flagged = [(o["timestamp"], o["detector"]) for o in out if o["anomaly"]]
    assert flagged and flagged[0][1] == "drift" and 800 <= flagged[0][0] < 1050
    # a line where nothing fired is as it always was: no detector field
    assert all(set(o) == {"timestamp", "step", "forecast", "anomaly_score", "anomaly"}
               for o in out if not o["anomaly"])  # fmt: skip
    s = json.loads(summary.read_text())
    assert s["drifts"] == sum(o["detector"] != "residual" for o in out if o["anomaly"]) > 0
    assert f"{s['drifts']} of them drift alarms" in r.stderr


def test_drift_threshold_option_moves_or_turns_off_the_drift_test():
    feed = ramp_lines()
    off = out_lines(run("stream", "--drift-threshold", "inf", input=feed))
    assert [o for o in off if o["anomaly"] and o["detector"] != "residual"] == []
    eager = out_lines(run("stream", "--drift-threshold", "5", input=feed))
    first = [o["timestamp"] for o in eager if o.get("detector") == "drift"][0]
    default = out_lines(run("stream", input=feed))
    assert first < [o["timestamp"] for o in default if o.get("detector") == "drift"][0]


def test_the_demo_feeds_spikes_are_residual_anomalies():
    out = out_lines(run("stream", "--source", "demo", "--limit", "400"))
    assert {o["detector"] for o in out if o["anomaly"]} == {"residual"}


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_a_bad_drift_threshold_is_one_clear_line(value):
    one_clear_line(run("stream", "--drift-threshold", value), 2, "'--drift-threshold'", value)
