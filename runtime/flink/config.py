"""What a Flink job is asked to do, checked before Flink starts (bad values are one line).

>>> c = FlinkConfig("m.onnx", "file:///data/in/", "file:///data/out/", key_field="sensor")
>>> c.endpoint("source"), c.rejects_spec()
(('file', '/data/in/'), 'file:///data/out-rejects/')
>>> FlinkConfig("m.onnx", "/data/in", "file:///o/", key_field="k").check()
Traceback (most recent call last):
...
edgernn.errors.UsageError: --source '/data/in' is not a URL Flink reads; give file:///data/in or kafka://host:9092/topic
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from edgernn.errors import UsageError

OPERATORS = ("shard", "per-key")
BACKENDS = ("hashmap", "rocksdb")
ON_MODEL_CHANGE = ("refuse", "reset")


@dataclass
class FlinkConfig:
    model: str  # path of the exported model (.onnx), readable on every task manager
    source: str  # file:///dir/ (a folder of JSONL/CSV files) or kafka://host:port/topic
    sink: str  # file:///dir/ (part files, committed on checkpoints) or kafka://host:port/topic
    key_field: str = ""  # field naming the series; each key has its own state
    rejects: str | None = None  # where bad records go; None: beside the sink (see rejects_spec)
    operator: str = "shard"  # "shard" (batched model calls) or "per-key" (one call per record)
    parallelism: int = 1  # parallel tasks of the keyed operator (and of the job)
    shards: int = 32  # shard keys the records are grouped under (the shard operator)
    flush_count: int = 512  # a shard runs its buffer when it holds this many records...
    flush_ms: int = 200  # ...or when its oldest buffered record has waited this long
    cache_keys: int = 100_000  # keys a task keeps decoded in memory (their state is in Flink's)
    bounded: bool = False  # read the files present and end (backfills, tests)
    monitor_ms: int = 1000  # how often an unbounded file source looks for new files
    checkpoint_dir: str | None = None  # file:///ckpt (also where savepoints go); None: a temp dir
    checkpoint_ms: int = 1000  # checkpoint interval
    state_backend: str = "hashmap"  # "hashmap" (heap) or "rocksdb" (state larger than memory)
    restarts: int = 3  # restart attempts after a failure (fixed delay), then the job fails
    restore: str | None = None  # a savepoint or retained checkpoint to start from
    on_model_change: str = "refuse"  # state of another model: "refuse" to start, or "reset" it
    csv_header: str | None = None  # CSV input: its header; lines equal to it are skipped
    timestamp_field: str = "timestamp"  # passed through, and orders each key's records
    ignore: tuple[str, ...] = ()  # fields a record may carry that the model does not read
    threshold: float | None = None  # anomaly |z| threshold; None = the model's
    drift_threshold: float | None = None  # the drift test's lambda; None = the default
    jars: tuple[str, ...] = ()  # extra jars (the Kafka connector), as file:// URLs
    group_id: str = "edgernn"  # the Kafka consumer group
    # other Flink settings, as config.yaml names them (they win over edgernn's own)
    options: dict[str, str] = field(default_factory=dict)

    def check(self) -> FlinkConfig:
        """UsageError naming the first bad value and the fix; the config itself otherwise."""
        if not self.key_field:
            raise UsageError("--key is required: name the field that says which series a record is")
        for name in ("source", "sink"):
            self.endpoint(name)
        self.endpoint("rejects")
        _one_of("--operator", self.operator, OPERATORS)
        _one_of("--state-backend", self.state_backend, BACKENDS)
        _one_of("--on-model-change", self.on_model_change, ON_MODEL_CHANGE)
        for flag, value in (
            ("--parallelism", self.parallelism),
            ("--shards", self.shards),
            ("--cache-keys", self.cache_keys),
            ("--flush-count", self.flush_count),
            ("--flush-ms", self.flush_ms),
            ("--checkpoint-ms", self.checkpoint_ms),
            ("--monitor-ms", self.monitor_ms),
        ):
            if value < 1:
                raise UsageError(f"{flag} must be at least 1, got {value}")
        if self.restarts < 0:
            raise UsageError(f"--restarts must be 0 or more, got {self.restarts}")
        if self.bounded and self.endpoint("source")[0] == "kafka":
            raise UsageError("--bounded reads the files present; a kafka:// source has no end")
        for url in (self.checkpoint_dir, self.restore):
            if url is not None and ":" not in url:
                raise UsageError(f"{url!r} is not a URL; give file:///path (or s3://, hdfs://)")
        return self

    def endpoint(self, name: str) -> tuple[str, str]:
        """("file", path) or ("kafka", "host:port/topic") for source, sink or rejects."""
        spec = self.rejects_spec() if name == "rejects" else getattr(self, name)
        parts = urlsplit(spec)
        if parts.scheme == "file" and parts.path:
            return "file", parts.path
        if parts.scheme == "kafka" and parts.netloc and parts.path.strip("/"):
            return "kafka", f"{parts.netloc}/{parts.path.strip('/')}"
        where = spec.split("://", 1)[-1].lstrip("/")
        raise UsageError(
            f"--{name} {spec!r} is not a URL Flink reads; give file:///{where} "
            f"or kafka://host:9092/topic"
        )

    def rejects_spec(self) -> str:
        """Where bad records go: ``--rejects``, else beside the sink (``out-rejects``)."""
        if self.rejects:
            return self.rejects
        trimmed = self.sink.rstrip("/")
        return f"{trimmed}-rejects/" if self.sink.startswith("file:") else f"{trimmed}-rejects"


def _one_of(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{flag} {value!r} is not one of {', '.join(choices)}")
