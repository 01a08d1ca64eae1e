"""Where ``edgernn stream`` writes its outputs: stdout (default), a JSONL file (appended), or
``mqtt://host:port/prefix`` (each output as JSON to ``prefix/<key>``, QoS 1)."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any, Callable

from edgernn.source_urls import LiveOptions


@dataclass(frozen=True)
class Sink:
    emit: Callable[[dict[str, Any]], None]  # one output
    flush: Callable[[], None]  # everything emitted so far is out (runs before each checkpoint)


def open_sink(spec: str | None, stack: ExitStack, options: LiveOptions | None = None) -> Sink:
    """The sink named by ``spec`` (None or "-": stdout); whatever it holds is closed by ``stack``."""
    if spec is None or spec == "-":
        return Sink(json_lines(sys.stdout), sys.stdout.flush)
    if spec.lower().startswith(("mqtt://", "mqtts://")):
        from edgernn.mqtt import open_mqtt_sink

        mqtt = open_mqtt_sink(spec, options or LiveOptions(), stack)
        return Sink(mqtt.emit, mqtt.flush)
    handle = stack.enter_context(open(spec, "a", encoding="utf-8", buffering=1))  # OSError: exit 5
    return Sink(json_lines(handle), handle.flush)


def json_lines(handle: IO[str]) -> Callable[[dict[str, Any]], None]:
    """An emit that writes each output as one JSON line."""
    def write(obj: dict[str, Any]) -> None:
        handle.write(json.dumps(obj, default=str) + "\n")
    return write
