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
    return out


def environment(cfg: FlinkConfig) -> Any:
    """A StreamExecutionEnvironment configured by ``settings`` (local unless run by ``flink``)."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    conf = Configuration()
    for k, v in settings(cfg).items():
        conf.set_string(k, v)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(cfg.parallelism)
    env.set_max_parallelism(MAX_PARALLELISM)
    return env


def build(env: Any, cfg: FlinkConfig, tap: Tap | None = None) -> None:
    """Add the job's pipeline to ``env``: source, parse, keyed stepper, sink and rejects."""
    from pyflink.common import Types, WatermarkStrategy

    from edgernn.flink.operators import REJECTS, Parse, PerKey, Shard

    cfg.check()
    model_id = load(cfg.model or None, provider="cpu").model_id  # a bad model fails here, early
    lines = env.from_source(_source(cfg), WatermarkStrategy.no_watermarks(), "edgernn-source").uid(
        "edgernn-source"
    )
    parsed = lines.process(Parse(cfg)).uid("edgernn-parse").name("edgernn-parse")
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
    out = out.uid(f"edgernn-{cfg.operator}-{model_id[:16]}").name(f"edgernn-{cfg.operator}")
    rejects = rejects.union(out.get_side_output(REJECTS))
    _sink(out, cfg, "sink", "forecasts")
    _sink(rejects, cfg, "rejects", "rejects")


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
    where = settings(cfg)["execution.checkpointing.savepoint-dir"]
    path: str = client.stop_with_savepoint(False, where).result()
    return path


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


def _sink(stream: Any, cfg: FlinkConfig, name: str, prefix: str) -> None:
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
            .set_transactional_id_prefix(f"edgernn-{prefix}")
            .build()
        )
    else:
        from pyflink.common.serialization import Encoder
        from pyflink.datastream.connectors.file_system import (
            BucketAssigner,
            FileSink,
            OutputFileConfig,
        )

        sink = (
            FileSink.for_row_format(where, Encoder.simple_string_encoder())
            .with_bucket_assigner(BucketAssigner.base_path_bucket_assigner())
            .with_output_file_config(
                OutputFileConfig.builder()
                .with_part_prefix(prefix)
                .with_part_suffix(".jsonl")
                .build()
            )
            .build()
        )
    stream.sink_to(sink).uid(f"edgernn-{prefix}-sink").name(f"edgernn-{prefix}-sink")
