"""``edgernn flink``: the template a user edits for a real cluster, and bad usage as one line
with the fix (before any Flink starts)."""

from __future__ import annotations

import py_compile
import subprocess
import sys

import pytest
from flinkdata import MISSING

from edgernn.flink.template import KAFKA_JAR


def edgernn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgernn", *args], capture_output=True, text=True, timeout=120
    )


def test_template_writes_a_job_with_kafka_wired_and_the_connector_named(tmp_path):
    job = tmp_path / "job.py"
    r = edgernn("flink", "template", str(job))
    assert r.returncode == 0, r.stderr
    assert KAFKA_JAR in r.stderr and "flink-sql-connector-kafka-5.0.0-2.2.jar" in r.stderr
    text = job.read_text()
    py_compile.compile(str(job), doraise=True)
    for needed in ("kafka://", "flink run -py job.py -j " + KAFKA_JAR, "build(env, cfg)"):
        assert needed in text
    again = edgernn("flink", "template", str(job))
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"error: {str(job)!r} exists; pass --force to overwrite it, or name another file"
    ]
    assert edgernn("flink", "template", str(job), "--force").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--source", "/data/in", "--sink", "file:///o/", "--key", "k"],
            "error: --source '/data/in' is not a URL Flink reads; give file:///data/in or "
            "kafka://host:9092/topic",
        ),
        (
            ["--source", "file:///i/", "--sink", "file:///o/", "--key", "k", "--shards", "0"],
            "error: --shards must be at least 1, got 0",
        ),
        (
            ["--source", "kafka://h:9092/t", "--sink", "file:///o/", "--key", "k", "--bounded"],
            "error: --bounded reads the files present; a kafka:// source has no end",
        ),
    ],
)
def test_bad_usage_is_one_line_with_the_fix_and_exit_2(args, message):
    r = edgernn("flink", "run", *args)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [message]


def test_a_missing_model_is_one_line_before_any_flink_starts(tmp_path):
    r = edgernn("flink", "run", str(tmp_path / "no.onnx"), "--source", "file:///i/", "--sink",
                "file:///o/", "--key", "k")  # fmt: skip
    assert r.returncode == 3
    assert r.stderr.strip().splitlines() == [
        f"error: model file {str(tmp_path / 'no.onnx')!r} does not exist; pass the path of an "
        "exported .onnx (or omit it for the shipped default)"
    ]


@pytest.mark.skipif(MISSING != "pyflink", reason="pyflink is installed here")
def test_without_the_flink_extra_the_command_says_what_to_install(tmp_path):
    r = edgernn("flink", "run", "--source", "file:///i/", "--sink", "file:///o/", "--key", "k")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: this command needs the flink extra (pyflink is missing); "
        "pip install 'edgernn[flink]'"
    ]
