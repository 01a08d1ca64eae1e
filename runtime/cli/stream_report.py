"""What ``edgernn stream`` tells a person: the status line's text, reject notes, the summary."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from edgernn.cli.common import Status
from edgernn.core.model import Model
from edgernn.feeds.protocols import LiveSource
from edgernn.feeds.sinks import Sink
from edgernn.serve.runner import StreamRunner
from edgernn.serve.stats import RunStats

REJECTS_HINT = "rejects are skipped; --rejects PATH keeps them all"


def summary(
    m: Model,
    runner: StreamRunner,
    stats: RunStats,
    source: LiveSource | None,
    sink: Sink,
    undelivered: int,
) -> dict[str, Any]:
    """The run's summary (what ``--summary`` writes): the runner's counts, the provider, and
    what a live source or sink went through."""
    summary = stats.summary(runner.keys, m.provider, spilled=len(runner.pool.spilled)) | {
        "model": str(m.path),
        "provider_note": m.provider_note,
        "cpu_fallback": m.cpu_fallback,
        "state_behind": runner.behind,  # the last checkpoint waited for a sink that never confirmed
    }
    if source is not None:  # a live source that can lose its connection
        summary["reconnects"] = source.reconnects
        summary["duplicates"] += source.duplicates
    if sink.live is not None:
        summary |= {
            "sink": sink.live.url.where,
            "sink_reconnects": sink.live.reconnects,
            "sink_undelivered": undelivered,
            # outputs the broker or paho refused (never retried), e.g. a topic too long to send
            "sink_rejected": getattr(sink.live, "rejected", 0),
        }
    return summary


def describe(runner: StreamRunner, source: LiveSource | None, sink: Sink) -> Callable[[], str]:
    """The status line's text; rates and latency are over the interval since the last line."""
    last: dict[str, float] = {"at": time.monotonic(), "steps": 0, "lat": 0}

    def describe() -> str:
        now, st = time.monotonic(), runner.stats
        lat = st.latency.recent_us(since=int(last["lat"]))
        latency = (
            "p50 {:.0f} us, p99 {:.0f} us".format(*np.percentile(lat, [50, 99]))
            if len(lat)
            else "no steps since the last line"
        )
        rate = (st.steps - last["steps"]) / max(now - last["at"], 1e-9)
        last.update(at=now, steps=st.steps, lat=st.latency.count)
        spilled = len(runner.pool.spilled)
        parts = [
            f"{st.steps} steps ({rate:.0f}/s)",
            f"{runner.keys} key(s)" + (f" ({spilled} spilled)" if spilled else ""),
            latency,
            f"{st.anomalies} anomalies",
            f"{st.rejected} rejected",
        ]
        duplicates = st.duplicates + (source.duplicates if source is not None else 0)
        parts += [f"{duplicates} duplicates"] if duplicates else []
        if source is not None:
            parts.append(f"{source.reconnects} source reconnects")
        if sink.live is not None:
            parts.append(f"{sink.live.reconnects} sink reconnects")
            if not sink.live.link.connected:
                parts.append(f"sink broker unreachable, {sink.live.waiting} output(s) waiting")
        return ", ".join(parts)

    return describe


class Rejects:
    """The runner's reject callback: appends to the --rejects file, and says why the first
    record was rejected when nothing else would show it (no --rejects file, or every record)."""

    def __init__(self, handle: IO[str] | None, path: str | None, status: Status):
        self.handle, self.path, self.status = handle, path, status
        self.first: dict[str, Any] | None = None

    def __call__(self, obj: dict[str, Any]) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps(obj, default=str) + "\n")
        if self.first is None:
            self.first = obj
            if self.handle is None:
                self.status.note(
                    f"note: record {obj['line']} rejected: {obj['reason']}; {REJECTS_HINT}"
                )

    def explain(self, stats: Any) -> None:
        """Every record rejected: say why the first was, even when the file has them all, and
        which flag fixes it when the reason is a field the model does not take."""
        if self.first is None or stats.steps != 0:
            return
        if self.handle is not None:
            self.status.note(
                f"note: every record was rejected; the first (record {self.first['line']}): "
                f"{self.first['reason']}; all are in {self.path}"
            )
        fix = unexpected_fix(str(self.first["reason"]))
        if fix:
            self.status.note(f"hint: {fix}")


def unexpected_fix(reason: str) -> str | None:
    """The flags that would accept a record rejected for carrying fields the model does not take.

    >>> print(unexpected_fix("unexpected field(s) 'battery', 'rssi'; the model takes temp"))
    pass --ignore battery,rssi to drop those fields (or --key FIELD if one names the series)
    >>> unexpected_fix("missing feature(s) temp") is None
    True
    """
    if not reason.startswith("unexpected field(s) "):
        return None
    names = re.findall(r"'([^']*)'", reason.split(";")[0])
    if not names:
        return None
    return (
        f"pass --ignore {','.join(names)} to drop those fields "
        "(or --key FIELD if one names the series)"
    )


def summary_line(s: dict[str, Any]) -> str:
    lat = s["latency_us"]
    labels = {
        "drifts": "of them drift alarms",
        "duplicates": "duplicates",
        "replayed": "replayed",
        "gaps": "gaps",
        "spills": "idle spills",
        "reconnects": "source reconnects",
        "sink_reconnects": "sink reconnects",
        "sink_rejected": "outputs the sink could not publish",
        "checkpoints_postponed": "checkpoints postponed",
    }
    extra = "".join(f", {s[k]} {label}" for k, label in labels.items() if s.get(k))
    keys = f"{s['keys']} key(s)" + (
        f" ({s['keys_active']} active, {s['keys_spilled']} spilled)" if s["keys_spilled"] else ""
    )
    return (
        f"{s['steps']} steps, {keys}, {s['anomalies']} anomalies, {s['rejected']} rejected{extra}; "
        f"step latency p50 {lat['p50']} us, p99 {lat['p99']} us, read to output p50 "
        f"{s['end_to_end_us']['p50']} us; "
        f"on {s['provider']}"
        f"{' (' + s['provider_note'] + ')' if s['provider_note'] else ''}; {s['steps_per_s']} "
        "steps/s"
    )
