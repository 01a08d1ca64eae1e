"""Builds and runs the Flink job: source -> parse (bad records to a side output) -> keyed
stepper (``Shard`` or ``PerKey``) -> sink, with checkpoints, a restart strategy and the state
backend asked for. PyFlink is imported inside the functions, so importing this module is free.

Operator ids (``uid``) are fixed, so a savepoint or retained checkpoint restores into a job of
another parallelism; the keyed operator's id carries the model's id, so a job of another model
refuses the old state unless ``on_model_change="reset"`` (Flink then drops it).

>>> from edgernn.flink.config import FlinkConfig
>>> settings(FlinkConfig("m.onnx", "file:///i/", "file:///o/", key_field="k",
...                      checkpoint_dir="file:///ckpt"))["execution.checkpointing.dir"]
'file:///ckpt'
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgernn.core.model import load
from edgernn.flink.config import FlinkConfig
from edgernn.flink.steps import shard_of

MAX_PARALLELISM = 128  # key groups: the most tasks a job (and its savepoints) can rescale to
Tap = Callable[[Any], Any]  # DataStream -> DataStream, spliced in before the keyBy (tests)


def settings(cfg: FlinkConfig) -> dict[str, str]:
    """The Flink configuration for ``cfg``: checkpoints, restarts, state backend, restore."""
    ckpt = cfg.checkpoint_dir or Path(tempfile.mkdtemp(prefix="edgernn-flink-")).as_uri()
    out = {
        "parallelism.default": str(cfg.parallelism),
        "pipeline.max-parallelism": str(MAX_PARALLELISM),
        "execution.checkpointing.interval": f"{cfg.checkpoint_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": ckpt,
        "execution.checkpointing.savepoint-dir": ckpt,
        # a cancelled or failed job keeps its last checkpoint, to --restore from
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "state.backend.type": cfg.state_backend,
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": str(cfg.restarts),
        "restart-strategy.fixed-delay.delay": "1 s",
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
    }
    if cfg.restore:
        out["execution.state-recovery.path"] = cfg.restore
        # reset: the old model's operator state has no home in this job and is dropped
        out["execution.state-recovery.ignore-unclaimed-state"] = str(
            cfg.on_model_change == "reset"
        ).lower()
    if cfg.jars:
        out["pipeline.jars"] = ";".join(cfg.jars)
    return out | cfg.options


def environment(cfg: FlinkConfig) -> Any:
    """A StreamExecutionEnvironment configured by ``settings`` (local unless run by ``flink``)."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    if cfg.parallelism > 1:
        # On a local mini-cluster PyFlink runs every task's Python code inside this process
        # ("loopback"), one interpreter for all: parallel tasks get their own Python worker
        # processes only in "process" mode (as on a cluster). PyFlink's switch for it:
        os.environ.setdefault("_python_worker_execution_mode", "process")
    conf = Configuration()
    for k, v in settings(cfg).items():
        conf.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(cfg.parallelism)
    env.set_max_parallelism(MAX_PARALLELISM)
    return env


def build(env: Any, cfg: FlinkConfig, tap: Tap | None = None, prefix: str = "edgernn") -> None:
    """Add the job's pipeline to ``env``: source, parse, keyed stepper, sink and rejects.
    ``prefix`` starts every operator's name and id (two pipelines in one job need two)."""
    from pyflink.common import Types, WatermarkStrategy

    from edgernn.flink.operators import REJECTS, Parse, PerKey, Shard

    cfg.check()
    model_id = load(cfg.model or None, provider="cpu").model_id  # a bad model fails here, early
    source = env.from_source(_source(cfg), WatermarkStrategy.no_watermarks(), f"{prefix}-source")
    lines = source.uid(f"{prefix}-source")
    parsed = lines.process(Parse(cfg)).uid(f"{prefix}-parse").name(f"{prefix}-parse")
    rejects = parsed.get_side_output(REJECTS)
    if tap is not None:
        parsed = tap(parsed)
    if cfg.operator == "per-key":
        keyed = parsed.key_by(lambda p: p.key, key_type=Types.STRING())
        out = keyed.process(PerKey(cfg), output_type=Types.STRING())
    else:
        shards = cfg.shards
        keyed = parsed.key_by(lambda p: shard_of(p.key, shards), key_type=Types.INT())
        out = keyed.process(Shard(cfg), output_type=Types.STRING())
    out = out.uid(f"{prefix}-{cfg.operator}-{model_id[:16]}").name(f"{prefix}-{cfg.operator}")
    rejects = rejects.union(out.get_side_output(REJECTS))
    _sink(out, cfg, "sink", f"{prefix}-forecasts")
    _sink(rejects, cfg, "rejects", f"{prefix}-rejects")


def start(cfg: FlinkConfig, tap: Tap | None = None, name: str = "edgernn") -> Any:
    """Build and submit the job without waiting; returns PyFlink's JobClient."""
    env = environment(cfg)
    build(env, cfg, tap)
    return env.execute_async(name)


def run(cfg: FlinkConfig, tap: Tap | None = None, name: str = "edgernn") -> None:
    """Build and run the job until it ends (a bounded input) or fails."""
    env = environment(cfg)
    build(env, cfg, tap)
    env.execute(name)


def stop_with_savepoint(client: Any, cfg: FlinkConfig) -> str:
    """Stop a running job with a savepoint (its outputs committed); returns the savepoint's path,
    for ``restore`` (at any parallelism up to MAX_PARALLELISM)."""
    from pyflink.common.completable_future import CompletableFuture
    from pyflink.java_gateway import get_gateway

    where = settings(cfg)["execution.checkpointing.savepoint-dir"]
    # PyFlink's JobClient.stop_with_savepoint calls a Java method Flink 2.x no longer has (it
    # lacks the format argument): call the Java client directly
    canonical = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    future = client._j_job_client.stopWithSavepoint(False, where, canonical)
    return str(CompletableFuture(future, str).result())


def _source(cfg: FlinkConfig) -> Any:
    kind, where = cfg.endpoint("source")
    if kind == "kafka":
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.kafka import (
            KafkaOffsetResetStrategy,
            KafkaOffsetsInitializer,
            KafkaSource,
        )

        servers, topic = where.split("/", 1)
        return (
            KafkaSource.builder()
            .set_bootstrap_servers(servers)
            .set_topics(topic)
            .set_group_id(cfg.group_id)
            .set_starting_offsets(
                KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
            )
            .set_value_only_deserializer(SimpleStringSchema())
            .build()
        )
    from pyflink.common import Duration
    from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

    builder = FileSource.for_record_stream_format(StreamFormat.text_line_format(), where)
    if not cfg.bounded:
        builder = builder.monitor_continuously(Duration.of_millis(cfg.monitor_ms))
    return builder.build()


def _sink(stream: Any, cfg: FlinkConfig, name: str, what: str) -> None:
    """``what``: the operator's id, and the part files' name."""
    kind, where = cfg.endpoint(name)
    if kind == "kafka":
        from pyflink.common.serialization import SimpleStringSchema
        from pyflink.datastream.connectors.base import DeliveryGuarantee
        from pyflink.datastream.connectors.kafka import (
            KafkaRecordSerializationSchema,
            KafkaSink,
        )

        servers, topic = where.split("/", 1)
        sink = (
            KafkaSink.builder()
            .set_bootstrap_servers(servers)
            .set_record_serializer(
                KafkaRecordSerializationSchema.builder()
                .set_topic(topic)
                .set_value_serialization_schema(SimpleStringSchema())
                .build()
            )
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(what)
            .build()
        )
    else:
        from pyflink.common.serialization import Encoder
        from pyflink.datastream.connectors.file_system import (
            BucketAssigner,
            FileSink,
            OutputFileConfig,
            RollingPolicy,
        )

        sink = (
            FileSink.for_row_format(where, Encoder.simple_string_encoder())
            .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
            # a part file per checkpoint: outputs are committed (visible) at every checkpoint
            .with_rolling_policy(RollingPolicy.on_checkpoint_rolling_policy())
            .with_output_file_config(
                OutputFileConfig.builder().with_part_prefix(what).with_part_suffix(".jsonl").build()
            )
            .build()
        )
    stream.sink_to(sink).uid(f"{what}-sink").name(f"{what}-sink")
