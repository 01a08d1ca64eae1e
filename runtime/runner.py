"""The streaming loop behind ``edgernn stream``: records in, one output per good record out.

Each key gets its own ``Stream`` (its own recurrent state). Bad records are counted, handed
to ``reject`` with the reason, and skipped: the good records around them are processed
exactly as if the bad ones had never been there.
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from edgernn.errors import RecordError
from edgernn.records import CsvRows, Record, RecordParser, sniff_format

Emit = Callable[[dict[str, Any]], None]


@dataclass
class RunStats:
    steps: int = 0  # good records stepped through the model
    anomalies: int = 0  # steps flagged as anomalous
    rejected: int = 0  # bad records set aside
    reasons: Counter = field(default_factory=Counter)  # rejected records per reason
    latency_ns: array = field(default_factory=lambda: array("q"))  # per-step wall time
    started: float = field(default_factory=time.perf_counter)
    first_output_s: float | None = None  # seconds from start to the first output

    def summary(self, keys: int, provider: str) -> dict[str, Any]:
        lat = np.frombuffer(self.latency_ns, dtype=np.int64) / 1e3 if self.steps else np.zeros(1)
        elapsed = time.perf_counter() - self.started
        return {
            "steps": self.steps,
            "keys": keys,
            "anomalies": self.anomalies,
            "rejected": self.rejected,
            "reject_reasons": dict(self.reasons.most_common(10)),
            "latency_us": {"p50": round(float(np.percentile(lat, 50)), 1), "p99": round(float(np.percentile(lat, 99)), 1)},
            "elapsed_s": round(elapsed, 3),
            "steps_per_s": round(self.steps / elapsed, 1) if elapsed > 0 else None,
            "provider": provider,
        }


class StreamRunner:
    """Feeds records to per-key streams of one model and emits one dict per step."""

    def __init__(self, model, key_field: str | None = None, timestamp_field: str = "timestamp",
                 threshold: float | None = None, emit: Emit = print, reject: Emit | None = None):
        sig = model.signature
        self.model = model
        self.parser = RecordParser(sig.features, key_field, timestamp_field, extra_allowed=sig.targets)
        self.threshold = threshold
        self.emit, self.reject = emit, reject
        self.streams: dict[str | None, Any] = {}
        self.stats = RunStats()
        self._csv: CsvRows | None = None
        self._format: str | None = None

    def run(self, items: Iterable[tuple[int, str | Mapping[str, Any]]], fmt: str = "auto", limit: int | None = None) -> RunStats:
        """Process ``(position, line-or-mapping)`` items; ``limit`` caps the records read."""
        self._format = None if fmt == "auto" else fmt
        seen = 0
        for position, item in items:
            if limit is not None and seen >= limit:
                break
            if self._is_header(item):
                continue
            seen += 1
            self.feed(position, item)
        return self.stats

    def feed(self, position: int, item: str | Mapping[str, Any]) -> None:
        """One record: step its key's stream, or count and hand it to ``reject``."""
        try:
            record = self._parse(item)
        except RecordError as e:
            self._rejected(position, item, str(e))
            return
        self._step(record)

    # ---- internals --------------------------------------------------------------------------
    def _is_header(self, item: Any) -> bool:
        """The first line of a CSV input is its header: read it and say so."""
        if not isinstance(item, str) or self._csv is not None:
            return False
        if self._format is None:
            self._format = sniff_format(item)
        if self._format == "csv":
            self._csv = CsvRows(item, self.parser)  # DataError if a feature column is missing
            return True
        return False

    def _parse(self, item: str | Mapping[str, Any]) -> Record:
        if not isinstance(item, str):
            return self.parser.parse_mapping(item)
        if self._csv is not None:
            return self._csv.parse(item)
        return self.parser.parse_json(item)

    def _step(self, record: Record) -> None:
        stream = self.streams.get(record.key)
        if stream is None:
            stream = self.streams[record.key] = self.model.stream(threshold=self.threshold)
        t0 = time.perf_counter_ns()
        result = stream.step(record.values)
        self.stats.latency_ns.append(time.perf_counter_ns() - t0)
        self.stats.steps += 1
        self.stats.anomalies += result.anomaly
        out: dict[str, Any] = {} if record.key is None else {"key": record.key}
        if record.timestamp is not None:
            out["timestamp"] = record.timestamp
        out.update(result.to_dict())
        self.emit(out)
        if self.stats.first_output_s is None:
            self.stats.first_output_s = time.perf_counter() - self.stats.started

    def _rejected(self, position: int, item: Any, reason: str) -> None:
        self.stats.rejected += 1
        self.stats.reasons[reason.split(" (")[0]] += 1
        if self.reject is not None:
            raw = item if isinstance(item, str) else dict(item)
            self.reject({"line": position, "reason": reason, "record": raw[:1000] if isinstance(raw, str) else raw})
