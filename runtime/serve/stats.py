"""What a stream run counts: steps, rejects by kind, latency percentiles over a recent window."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.core.latency import percentiles
from edgernn.core.views import flat


class LatencyWindow:
    """The latest ``size`` latencies in a fixed ring buffer: constant memory on a stream that
    runs for months, percentiles over the recent past.

    >>> w = LatencyWindow(size=4)
    >>> for ns in (1000, 2000, 3000, 4000, 5000):
    ...     w.add(ns)
    >>> w.count, w.recent_us().tolist()
    (5, [2.0, 3.0, 4.0, 5.0])
    >>> w.recent_us(since=3).tolist()
    [4.0, 5.0]
    """

    def __init__(self, size: int = 65_536):
        self.ring = np.zeros(size, dtype=np.int64)
        # item writes without numpy's per-call overhead (twice a record)
        self._ring = flat(self.ring)
        self.count = 0  # latencies ever added

    def add(self, ns: int) -> None:
        self._ring[self.count % len(self._ring)] = ns
        self.count += 1

    def recent_ns(self, since: int = 0) -> np.ndarray:
        """Latencies (ns) added after the first ``since``, at most the ring's size, oldest first."""
        n = min(self.count - since, self.count, len(self.ring))
        idx = np.arange(self.count - n, self.count) % len(self.ring)
        return self.ring[idx]

    def recent_us(self, since: int = 0) -> np.ndarray:
        """``recent_ns`` in microseconds."""
        return self.recent_ns(since) / 1e3


@dataclass
class RunStats:
    steps: int = 0  # good records stepped through the model
    anomalies: int = 0  # steps flagged as anomalous (by either detector)
    drifts: int = 0  # of those, steps where the drift test fired
    rejected: int = 0  # bad records set aside
    replayed: int = 0  # records skipped on resume: already in the checkpointed state
    ticks: int = 0  # graph calls
    checkpoints: int = 0  # state files written
    gaps: int = 0  # timestamp gaps longer than gap_limit (each handled by gap_policy)
    duplicates: int = 0  # records seen before (same key, timestamp, values): skipped, not rejected
    spills: int = 0  # times an idle key's state was spilled (idle_s)
    deferred: int = 0  # checkpoints postponed because the sink could not confirm its outputs
    reasons: Counter[str] = field(default_factory=Counter)  # rejected records per kind of reason
    # per step: its tick's graph call + bookkeeping
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    # per record: read -> output written
    end_to_end: LatencyWindow = field(default_factory=LatencyWindow)
    started: float = field(default_factory=time.perf_counter)

    def summary(self, keys: int, provider: str, spilled: int = 0) -> dict[str, Any]:
        """The run as JSON; ``keys`` counts every key, ``spilled`` those idle (spilled) now."""
        elapsed = time.perf_counter() - self.started
        return {
            "steps": self.steps,
            "keys": keys,
            "keys_active": keys - spilled,
            "keys_spilled": spilled,
            "spills": self.spills,
            "anomalies": self.anomalies,
            "drifts": self.drifts,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "replayed": self.replayed,
            "gaps": self.gaps,
            "ticks": self.ticks,
            "checkpoints": self.checkpoints,
            "checkpoints_postponed": self.deferred,
            "reject_reasons": dict(self.reasons.most_common(10)),
            "latency_us": _p50_p99(self.latency, self.steps),
            "end_to_end_us": _p50_p99(self.end_to_end, self.steps),
            "elapsed_s": round(elapsed, 3),
            "steps_per_s": round(self.steps / elapsed, 1) if elapsed > 0 else None,
            "provider": provider,
        }


_PARENS = re.compile(r"\s+\([^()]*\)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# a number, after the option it is the value of if any (an option's number is kept)
_NUMBER = re.compile(r"(--[\w-]+ )?(?<![\w.-])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def reason_kind(reason: str) -> str:
    """A reject reason without its values, to count rejects by kind (the rejects file keeps the
    full reason).

    >>> reason_kind("timestamp 3 is not after this key's last (2): out of order, "
    ...             "or a repeat with other values")
    "timestamp <n> is not after this key's last: out of order, or a repeat with other values"
    >>> reason_kind("unexpected field(s) 'device', 'x'; the model takes temp, humidity")
    'unexpected field(s) <value>; the model takes temp, humidity'
    """
    kind = _QUOTED.sub("<value>", _PARENS.sub("", reason))
    kind = re.sub(r"<value>(?:, <value>)+", "<value>", kind)
    return _NUMBER.sub(lambda m: m.group(0) if m.group(1) else "<n>", kind)


def _p50_p99(window: LatencyWindow, steps: int) -> dict[str, float]:
    """The summary's latency: p50 and p99 in us over the recent window (0 before any step)."""
    return percentiles(window.recent_ns() if steps else np.zeros(1), ("p50", "p99"), digits=1)
