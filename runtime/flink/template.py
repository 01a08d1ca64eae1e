"""``edgernn flink template job.py``: an editable job for ``flink run -py job.py`` on a real
cluster, Kafka in and out (the connector jar is named here, not bundled).

>>> "KafkaSource" in TEMPLATE or "kafka://" in TEMPLATE
True
>>> KAFKA_JAR
'flink-sql-connector-kafka-5.0.0-2.2.jar'
"""

from __future__ import annotations

KAFKA_CONNECTOR = "5.0.0-2.2"  # the Kafka connector release for Flink 2.2+, built for 2.x
KAFKA_JAR = f"flink-sql-connector-kafka-{KAFKA_CONNECTOR}.jar"
KAFKA_URL = (
    "https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/"
    f"{KAFKA_CONNECTOR}/{KAFKA_JAR}"
)

TEMPLATE = f'''"""An edgernn job for a Flink cluster: forecasts for every sensor, exactly once.

Run it on a cluster (Flink 2.x, Java 17, every task manager with Python and
`pip install 'edgernn[flink]'`; the model at MODEL on the machine that runs `flink run`, which
checks it, and on every task manager, or on a shared path):

    curl -fLO {KAFKA_URL}
    flink run -py job.py -j {KAFKA_JAR} -p 4

Stop with a savepoint and resume at another parallelism (state follows each key):

    flink stop --savepointPath s3://bucket/savepoints <job id>
    flink run -s s3://bucket/savepoints/savepoint-... -py job.py -j {KAFKA_JAR} -p 8

Edit the settings below; everything else is edgernn's (edgernn.flink.job.build).
"""

from pyflink.datastream import StreamExecutionEnvironment

from edgernn.flink.config import FlinkConfig
from edgernn.flink.job import MAX_PARALLELISM, build

MODEL = "/opt/models/model.onnx"  # the exported model, readable on every task manager

cfg = FlinkConfig(
    model=MODEL,
    source="kafka://kafka:9092/sensors",  # records: JSON objects, one per Kafka message
    sink="kafka://kafka:9092/forecasts",  # one JSON forecast per good record (exactly once)
    rejects="kafka://kafka:9092/sensors-rejects",  # bad records, with the reason
    key_field="sensor",  # which series a record belongs to: key the topic by it too
    operator="shard",  # "shard": batched model calls (throughput); "per-key": lowest latency
    shards=128,  # shard keys: at least the largest parallelism you will scale to
    flush_count=512,  # a shard steps its buffer at this many records...
    flush_ms=200,  # ...or when its oldest record has waited this long (added latency)
    group_id="edgernn",  # the Kafka consumer group
)

env = StreamExecutionEnvironment.get_execution_environment()
env.set_max_parallelism(MAX_PARALLELISM)  # keep it: savepoints rescale up to this many tasks
env.enable_checkpointing(10_000)  # exactly-once state and Kafka transactions commit here
# Large state: RocksDB (set in the cluster's config.yaml, with a durable checkpoint dir):
#   state.backend.type: rocksdb
#   execution.checkpointing.dir: s3://bucket/checkpoints
# Restarts: restart-strategy.type: fixed-delay (or exponential-delay) in config.yaml.
build(env, cfg)
env.execute("edgernn")
'''
