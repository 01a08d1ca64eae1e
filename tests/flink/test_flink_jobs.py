"""Real Flink jobs on a local mini-cluster (PyFlink, Java 17): the forecasts, state and bad
records of ``edgernn stream --key``, at parallelism 2, through a failure and a rescale.
Each test is one or two jobs (~20 s to start each) over a few hundred records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flinkdata import by_key, committed, feed, needs_flink, reference

from edgernn.flink.config import FlinkConfig

pytestmark = [pytest.mark.flink, needs_flink]
# a job run in this process leaves PyFlink's in-process worker switches in the environment;
# the CLI runs below are fresh processes, as a user starts them
ENV = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PYFLINK", "_PYTHON"))}


def config(tmp: Path, name: str, **kw) -> FlinkConfig:
    return FlinkConfig(
        "",
        (tmp / "in").as_uri() + "/",
        (tmp / name).as_uri() + "/",
        key_field="sensor",
        checkpoint_dir=(tmp / f"ckpt-{name}").as_uri(),
        **kw,
    )


def write_input(tmp: Path, lines: list[str], name: str = "a.jsonl") -> None:
    (tmp / "in").mkdir(exist_ok=True)
    (tmp / "in" / name).write_text("\n".join(lines) + "\n")


def test_both_operators_at_parallelism_2_match_edgernn_stream_and_side_output_bad_records(
    tmp_path,
):
    """One job, two pipelines on the same files: the shard operator (small flushes, so many
    of them) and the per-key operator."""
    from pyflink.datastream import StreamExecutionEnvironment  # noqa: F401  (skip check)

    from edgernn.flink import job

    lines = feed(keys=12, steps=40)
    write_input(tmp_path, lines)
    want, want_rejects = reference(lines, tmp_path)
    shard = config(tmp_path, "shard", bounded=True, parallelism=2, shards=8, flush_count=16)
    per_key = config(tmp_path, "per-key", bounded=True, parallelism=2, operator="per-key")
    env = job.environment(shard)
    job.build(env, shard, prefix="shard")
    job.build(env, per_key, prefix="perkey")
    env.execute("parity")

    wanted = sorted((r["reason"], r["record"]) for r in want_rejects)
    for name in ("shard", "per-key"):
        assert by_key(committed(tmp_path / name)) == want, name
        rejects = [json.loads(x) for x in committed(tmp_path / f"{name}-rejects")]
        assert sorted((r["reason"], r["record"]) for r in rejects) == wanted, name
    assert len(wanted) == 5


class FailOnce:
    """A pass-through map that fails the job once, at the ``at``-th record a subtask sees
    (a marker file says it happened), and notes the first record each attempt sees."""

    def __init__(self, at: int, folder: str):
        self.at, self.folder = at, folder

    def __call__(self, stream):
        from pyflink.datastream import MapFunction

        at, folder = self.at, self.folder

        class Fail(MapFunction):
            def open(self, ctx):
                self.seen = 0
                self.attempt = ctx.get_attempt_number()
                self.sub = ctx.get_index_of_this_subtask()

            def map(self, value):
                self.seen += 1
                if self.seen == 1:
                    with open(f"{folder}/first-{self.sub}-{self.attempt}", "w") as f:
                        f.write(json.dumps(value.timestamp))
                time.sleep(0.004)  # slow enough for checkpoints to complete before the failure
                marker = Path(folder) / "failed"
                if self.seen == at and not marker.exists():
                    marker.write_text("once")
                    raise RuntimeError("injected failure")
                return value

        return stream.map(Fail())


def test_one_injected_failure_restores_from_a_checkpoint_with_no_lost_or_repeated_output(
    tmp_path,
):
    import cloudpickle

    from edgernn.flink import job

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    lines = feed(keys=8, steps=80, seed=3)
    write_input(tmp_path, lines)
    want, _ = reference(lines, tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    cfg = config(
        tmp_path,
        "out",
        bounded=True,
        parallelism=2,
        operator="per-key",  # the shard operator's restore is the savepoint test's
        checkpoint_ms=100,
        # small bundles to Python, so checkpoints come between records, not after all of them
        options={"python.fn-execution.bundle.size": "10"},
    )
    job.run(cfg, tap=FailOnce(500, str(notes)))

    assert (notes / "failed").exists()  # it did fail once
    # the restarted attempt did not start from the first record: it resumed a checkpoint
    restarted = [json.loads(p.read_text()) for p in notes.glob("first-*-1")]
    assert restarted and max(restarted) > 0
    assert by_key(committed(tmp_path / "out")) == want


def test_stop_with_a_savepoint_at_parallelism_1_resume_at_2_continues_identically(tmp_path):
    from edgernn.flink import job

    lines = feed(keys=10, steps=40, seed=7, bad=False)
    want, _ = reference(lines, tmp_path)
    half = len(lines) // 2
    write_input(tmp_path, lines[:half], "a.jsonl")
    first = config(tmp_path, "out1", parallelism=1, monitor_ms=200, checkpoint_ms=300)
    client = job.start(first)
    wait_for(lambda: len(committed(tmp_path / "out1")) == half)
    savepoint = job.stop_with_savepoint(client, first)
    assert len(committed(tmp_path / "out1")) == half

    write_input(tmp_path, lines[half:], "b.jsonl")  # arrives while the job is down
    second = config(
        tmp_path, "out2", parallelism=2, monitor_ms=200, checkpoint_ms=300, restore=savepoint
    )
    client = job.start(second)
    wait_for(lambda: len(committed(tmp_path / "out2")) == len(lines) - half)
    job.stop_with_savepoint(client, second)
    got = committed(tmp_path / "out1") + committed(tmp_path / "out2")
    assert by_key(got) == want  # every key went on from its saved state, nothing twice


def wait_for(done, proc=None, timeout: float = 150.0) -> None:
    t0 = time.monotonic()
    while not done():
        assert time.monotonic() - t0 < timeout, "the job did not get there in time"
        assert proc is None or proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.5)


def test_the_cli_stops_with_a_savepoint_on_sigterm_and_another_model_refuses_it(tmp_path):
    """`edgernn flink run` as a user runs it: unbounded, SIGTERM stops it with a savepoint and
    says how to resume; the savepoint does not start a job of another model (exit 6)."""
    lines = feed(keys=4, steps=20, seed=2, bad=False)
    write_input(tmp_path, lines)
    want, _ = reference(lines, tmp_path)
    cfg = config(tmp_path, "out")
    args = ["--source", cfg.source, "--sink", cfg.sink, "--key", "sensor", "--checkpoint-dir"]
    args += [str(cfg.checkpoint_dir), "--checkpoint-ms", "300", "--monitor-ms", "200"]
    cmd = [sys.executable, "-m", "edgernn", "flink", "run"]
    proc = subprocess.Popen([*cmd, *args], stderr=subprocess.PIPE, text=True, env=ENV)
    wait_for(lambda: len(committed(tmp_path / "out")) == len(lines), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert by_key(committed(tmp_path / "out")) == want
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped with a savepoint: file:") and "; resume with --restore " in last
    savepoint = last.rsplit(" ", 1)[-1]

    other = str(Path(__file__).parents[1] / "data" / "tiny-lstm.onnx")
    r = subprocess.run(
        [*cmd, other, *args, "--restore", savepoint],
        capture_output=True,
        text=True,
        timeout=180,
        env=ENV,
    )
    assert r.returncode == 6
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: {savepoint} holds state this job cannot take (written with another model, or "
        "another --operator); resume with the model and operator that wrote it, or pass "
        "--on-model-change reset to start every key fresh"
    )
