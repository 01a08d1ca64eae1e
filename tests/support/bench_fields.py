"""What `edgernn bench --json` holds, for the bench tests; and the tiny settings they run with."""

from __future__ import annotations

from click.testing import CliRunner, Result

from edgernn.cli import main

TINY = ("--streams", "1,4", "--chunks", "1,3", "--repeat", "small")
LATENCY = {"p50", "p90", "p99", "max", "mean"}  # every timed loop's summary
# the top level of the result
TOP = {
    "edgernn",
    "date",
    "model",
    "run",
    "machine",
    "pool",
    "api",
    "single_stream",
    "hardware",
    "streams",
    "chunks",
    "startup",
    "skipped",
    "interrupted",
}
# the result's model
MODEL = {
    "path",
    "id",
    "task",
    "mode",
    "input",
    "outputs",
    "arch",
    "layers",
    "features",
    "targets",
    "flops_per_step",
    "flops_nominal",
    "flops_notes",
}
POINT = {"per_stream_step_us", "stream_steps_per_s", "gflops", "sgemm_fraction", "square_fraction"}


def run(*args: str) -> Result:
    """`edgernn bench ARGS` through click's test runner."""
    return CliRunner().invoke(main, ["bench", *args])
