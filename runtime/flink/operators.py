"""The Flink operators: parse (bad records to a side output), then one of two keyed steppers.

- ``PerKey`` is keyed by the record's key: one model call per record, the key's ``KeyState``
  in a ``ValueState`` (lowest latency, most overhead per record).
- ``Shard`` (the default) is keyed by ``shard_of(key)``: records wait in a ``ListState``
  buffer until the shard holds ``flush_count`` of them or the oldest has waited ``flush_ms``
  (and at the end of a bounded input), then one ``Engine.run`` steps them all through the
  pool's batched step; each key's ``KeyState`` lives in a ``MapState``. The buffer is Flink
  state, so a failure between flushes loses nothing and repeats nothing.

Both write the same lines as ``edgernn stream --key``. Every state value is a JSON string or an
``edgernn.flink.keystate`` blob (bytes), never a pickle. PyFlink is imported here; this module
is imported only when a job is built (``edgernn.flink.job``). Without PyFlink the classes can
be read, not run:

>>> from edgernn.flink.operators import Shard, PerKey
>>> sorted(n for n in vars(Shard) if not n.startswith("_"))
['on_timer', 'open', 'process_element']
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from edgernn.flink.config import FlinkConfig
from edgernn.flink.steps import Engine, Parsed

try:
    from pyflink.common import Types
    from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction
    from pyflink.datastream.state import (
        ListStateDescriptor,
        MapStateDescriptor,
        ValueStateDescriptor,
    )

    REJECTS: Any = OutputTag("rejects", Types.STRING())
    BLOB: Any = Types.PRIMITIVE_ARRAY(Types.BYTE())  # a KeyState blob, as Java byte[]
except ImportError:  # no flink extra: readable, not runnable (the CLI says what to install)
    KeyedProcessFunction = ProcessFunction = object
    REJECTS = BLOB = None

END_OF_INPUT = 2**63 - 2  # an event-time timer the final watermark of a bounded input fires


class Parse(ProcessFunction):  # type: ignore[misc]
    """Lines in, ``Parsed`` records out; a bad record's reason line to the REJECTS side output."""

    def __init__(self, cfg: FlinkConfig):
        self.cfg = cfg

    def open(self, runtime_context: Any) -> None:
        self.engine = Engine(self.cfg)

    def process_element(self, value: str, ctx: Any) -> Iterator[Any]:
        kind, item = self.engine.parse(value)
        if kind == "ok":
            yield item
        elif kind == "reject":
            yield REJECTS, item


class PerKey(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by the record's key: one step per record, the key's state in a ValueState."""

    def __init__(self, cfg: FlinkConfig):
        self.cfg = cfg

    def open(self, runtime_context: Any) -> None:
        self.engine = Engine(self.cfg)
        self.blob = runtime_context.get_state(ValueStateDescriptor("edgernn-key", BLOB))

    def process_element(self, value: Parsed, ctx: Any) -> Iterator[Any]:
        key, engine = value.key, self.engine
        state = engine.cached(key)
        if state is None:
            held = self.blob.value()
            state = engine.state(key, None if held is None else bytes(held))
        outs = engine.run([value], {key: state})
        if any(kind == "out" for kind, _ in outs):
            self.blob.update(engine.blob(key))
        engine.trim()
        yield from _route(outs)


class Shard(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by shard: buffers records in Flink state and steps them together (see above)."""

    def __init__(self, cfg: FlinkConfig):
        self.cfg = cfg

    def open(self, runtime_context: Any) -> None:
        self.engine = Engine(self.cfg)
        self.buffer = runtime_context.get_list_state(
            ListStateDescriptor("edgernn-buffer", Types.STRING())
        )
        self.keys = runtime_context.get_map_state(
            MapStateDescriptor("edgernn-keys", Types.STRING(), BLOB)
        )
        # shard -> records in its buffer; read from the buffer when not known (after a restore
        # a new instance starts empty, so this never disagrees with the restored state)
        self.counts: dict[int, int] = {}

    def process_element(self, value: Parsed, ctx: Any) -> Iterator[Any]:
        shard = ctx.get_current_key()
        n = self.counts.get(shard)
        if n is None:
            n = len(list(self.buffer.get() or []))
        self.buffer.add(json.dumps([value.key, value.values, value.timestamp, value.raw]))
        n += 1
        if n == 1:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(int(time.time() * 1000) + self.cfg.flush_ms)
            timers.register_event_time_timer(END_OF_INPUT)
        self.counts[shard] = n
        if n >= self.cfg.flush_count:
            yield from self._flush(shard)

    def on_timer(self, timestamp: int, ctx: Any) -> Iterator[Any]:
        yield from self._flush(ctx.get_current_key())

    def _flush(self, shard: int) -> Iterator[Any]:
        items = [Parsed(*json.loads(s)) for s in (self.buffer.get() or [])]
        self.counts[shard] = 0
        if not items:
            return
        engine, states = self.engine, {}
        for key in dict.fromkeys(p.key for p in items):
            state = engine.cached(key)
            if state is None:
                held = self.keys.get(key)
                state = engine.state(key, None if held is None else bytes(held))
            states[key] = state
        outs = engine.run(items, states)
        self.keys.put_all([(k, engine.blob(k)) for k in states])
        self.buffer.clear()
        engine.trim()
        yield from _route(outs)


def _route(outs: list[tuple[str, str]]) -> Iterator[Any]:
    for kind, line in outs:
        yield line if kind == "out" else (REJECTS, line)
