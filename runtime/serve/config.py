"""How a stream run is configured: keys, timestamps, ticks, durable state, limits.

>>> RunnerConfig(key_field="sensor").max_batch
1024
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgernn.feeds.records import RecordParser
from edgernn.signature import Signature


@dataclass
class RunnerConfig:
    key_field: str | None = None  # field naming the series; None = one series
    # optional; passed through, and orders each key (duplicates, replays, gaps)
    timestamp_field: str = "timestamp"
    threshold: float | None = None  # anomaly |z| threshold; None = the model's
    max_batch: int = 1024  # most keys in one tick
    max_delay_ms: float = 0.0  # how long a record may wait for other keys to join its tick
    # durable state: resume from and checkpoint to state_dir/state.db (edgernn.serve.store)
    state_dir: Path | None = None
    checkpoint_every_steps: int = 10_000  # checkpoint after this many steps...
    checkpoint_every_s: float = 5.0  # ...or this many seconds, whichever comes first
    # spill streams idle this long (they come back on their next record)
    idle_s: float | None = None
    queue_size: int = 4096  # records read ahead of the model (backpressure beyond)
    max_keys: int | None = None  # records of further new keys are rejected (bounded memory)
    # a timestamp gap longer than this (seconds, or timestamp units) is a gap
    gap_limit: float | None = None
    gap_policy: str = "carry"  # on a gap: "carry" the state on, or "reset" the key's stream first
    # the drift test's lambda (edgernn.core.drift); None = DRIFT_THRESHOLD, inf = off
    drift_threshold: float | None = None
    # fields a record may carry that the model does not read (battery, rssi): accepted, dropped
    ignore: tuple[str, ...] = ()
    # with held acks (an MQTT source and a state_dir): checkpoint once this many finished
    # messages wait for one, half of mosquitto's default in-flight window (20), so the broker
    # keeps sending
    ack_every: int = 10


def record_parser(
    sig: Signature,
    key_field: str | None,
    timestamp_field: str = "timestamp",
    ignore: tuple[str, ...] = (),
) -> RecordParser:
    """The parser of a model's records, for the runner and the Flink engine alike: its features
    (calendar columns computed from the timestamp), its target columns and ``ignore`` allowed
    besides."""
    return RecordParser(
        sig.features,
        key_field,
        timestamp_field,
        extra_allowed=(*sig.targets, *ignore),
        calendar=sig.calendar,
    )
