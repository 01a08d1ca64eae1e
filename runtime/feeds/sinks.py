"""Where ``edgernn stream`` writes its outputs: stdout (default), a JSONL file (appended), or
``mqtt://host:port/prefix`` (each output as JSON to ``prefix/<key>``, QoS 1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from edgernn.errors import DataError
from edgernn.feeds.mqtt_sink import open_mqtt_sink
from edgernn.feeds.options import LiveOptions, check_spec, redact

SINK_SCHEMES = {"mqtt": "mqtt://host:1883/out", "mqtts": "mqtts://host:8883/out"}


@dataclass(frozen=True)
class Sink:
    emit: Callable[[dict[str, Any]], None]  # one output
    # everything emitted so far is out (before each checkpoint); False: not yet
    flush: Callable[[], bool | None]
    close: Callable[[], int] = lambda: 0  # deliver what is left; how many outputs never got out
    live: Any = None  # the MQTT sink (reconnects, waiting, link), None for stdout and files


def open_sink(spec: str | None, stack: ExitStack, options: LiveOptions | None = None) -> Sink:
    """The sink named by ``spec`` (None or "-": stdout); whatever it holds is closed by
    ``stack``."""
    if spec is None or spec == "-":
        return Sink(json_lines(sys.stdout), sys.stdout.flush)
    if spec.lower().startswith(("mqtt://", "mqtts://")):
        mqtt = open_mqtt_sink(spec, options or LiveOptions(), stack)
        return Sink(mqtt.emit, mqtt.flush, mqtt.close, mqtt)
    check_spec(spec, "--sink", SINK_SCHEMES)
    try:
        handle = stack.enter_context(open(spec, "a", encoding="utf-8", buffering=1))
    except OSError as e:
        raise DataError(
            f"cannot use {redact(spec)!r}: {e.strerror or e}; check the path and its permissions"
        ) from None
    return Sink(json_lines(handle), handle.flush)


def json_lines(handle: IO[str]) -> Callable[[dict[str, Any]], None]:
    """An emit that writes each output as one JSON line."""

    def write(obj: dict[str, Any]) -> None:
        handle.write(json.dumps(obj, default=str) + "\n")

    return write
