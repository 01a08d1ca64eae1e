"""What a Flink task does with records, without Flink: parse and validate them as ``edgernn
stream`` does, order each key's records, step the model through the pool's batched step, and
write the same JSON lines. Both Flink operators (``edgernn.flink.operators``) are thin shells
around ``Engine``; the state they keep per key is a ``KeyState``.

>>> from edgernn.flink.config import FlinkConfig
>>> engine = Engine(FlinkConfig("", "file:///i/", "file:///o/", key_field="sensor"))
>>> kind, a = engine.parse('{"sensor": "s1", "timestamp": 1, "temp": 21.0, "humidity": 50}')
>>> b = engine.parse('{"sensor": "s1", "temp": "warm", "humidity": 50}')
>>> b
('reject', '{"reason": "temp is not a number (str)", "record": "{\\\\"sensor\\\\": ...}')
>>> states = {"s1": KeyState(None)}
>>> kind, a.key, a.values
('ok', 's1', [21.0, 50.0])
>>> [kind for kind, line in engine.run([a], states)], states["s1"].last_ts
(['out'], 1)
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.core.model import Model, load
from edgernn.core.pool import SMALL_TICK, Pool
from edgernn.errors import RecordError, StateError
from edgernn.feeds.records import CsvRows
from edgernn.flink.config import FlinkConfig
from edgernn.flink.keystate import RECENT, KeyState, pack_key, record_digest, unpack_key
from edgernn.serve.config import record_parser
from edgernn.serve.order import ts_order

MAX_BATCH = 1024  # most keys in one model call (edgernn stream's --max-batch default)
RAW = 1000  # characters of a bad record kept in its reject line


@dataclass(frozen=True)
class Parsed:
    """A good record on its way from the parser to the keyed operator (PyFlink pickles it)."""

    key: str  # the series it belongs to
    values: list[float]  # (F,) feature values, float32-exact, in the model's order
    timestamp: Any  # passed through; orders the key's records
    raw: str  # the line as read (at most RAW characters), for a reject


Item = tuple[str, Any]  # ("ok", Parsed), ("reject", json line) or ("skip", None): a CSV header


class Engine:
    """One model, its parser and a pool for the keys in hand; one per Flink task."""

    def __init__(self, cfg: FlinkConfig, model: Model | None = None):
        """``cfg.model`` "" loads the shipped model."""
        self.cfg = cfg
        self.model = model or load(cfg.model or None, provider="cpu")
        self.parser = record_parser(
            self.model.signature, cfg.key_field, cfg.timestamp_field, cfg.ignore
        )
        self.csv = CsvRows(cfg.csv_header, self.parser) if cfg.csv_header else None
        self.pool = Pool(self.model, threshold=cfg.threshold, drift_threshold=cfg.drift_threshold)
        self.resident: OrderedDict[str, KeyState] = OrderedDict()  # keys in the pool, LRU order

    # ---- before the keyBy --------------------------------------------------------------------
    def parse(self, line: str) -> Item:
        """One input line as ("ok", Parsed), ("reject", reason line) or ("skip", None)."""
        line = line.lstrip("\ufeff").rstrip("\r\n")
        if self.csv is not None and line == self.cfg.csv_header:
            return "skip", None
        if not line.strip():
            return "skip", None  # edgernn stream skips blank lines too
        try:
            record = self.csv.parse(line) if self.csv is not None else self.parser.parse_json(line)
        except RecordError as e:
            return "reject", reject_line(str(e), line)
        values: list[float] = record.values.tolist()
        return "ok", Parsed(str(record.key), values, record.timestamp, line[:RAW])

    # ---- after it: one key (per-key operator) or a shard's buffer -----------------------------
    # Keys stay resident in the pool between calls (the newest ``cfg.cache_keys``), so a key's
    # blob is decoded only when this task meets it first; every step is still written back to
    # Flink state (``blob``). A restore (failure, rescale) makes new operators and so a new,
    # empty Engine: the cache never outlives the state it mirrors.
    def cached(self, key: str) -> KeyState | None:
        """The key's state when it is resident here (then Flink's copy need not be read)."""
        st = self.resident.get(key)
        if st is not None:
            self.resident.move_to_end(key)
        return st

    def state(self, key: str, blob: bytes | None) -> KeyState:
        """A key's state from its blob (None: a new key). Another model's state raises, or
        starts the key fresh with ``on_model_change="reset"``."""
        if blob is None:
            return KeyState(None)
        try:
            return unpack_key(blob, self.model.model_id)
        except StateError as e:
            if self.cfg.on_model_change == "reset":
                return KeyState(None)
            raise StateError(
                f"the state of key {key[:40]!r} cannot be used ({e}); start from a savepoint "
                "taken with this model, or pass --on-model-change reset to start such keys fresh"
            ) from e

    def blob(self, key: str) -> bytes:
        """The resident key's state as a blob, for Flink's state (after ``run``)."""
        st = self.resident[key]
        stream = self.pool.snapshot(key) if self._pooled(key) else None  # None: never stepped
        return pack_key(self.model.model_id, KeyState(stream, st.last_ts, st.recent))

    def _pooled(self, key: str) -> bool:
        return key in self.pool or key in self.pool.spilled

    def trim(self) -> None:
        """Drop the least recently used keys beyond ``cfg.cache_keys`` (their blobs are in
        Flink's state already)."""
        while len(self.resident) > self.cfg.cache_keys:
            key, _ = self.resident.popitem(last=False)
            if self._pooled(key):
                self.pool.remove(key)

    def run(self, items: Sequence[Parsed], states: dict[str, KeyState]) -> list[tuple[str, str]]:
        """Step ``items`` in order as ("out" | "reject", JSON line), one per item but skipped
        redeliveries; ``states`` holds each of their keys' state (``cached`` or ``state``), and
        they become resident. Keys share model calls as in ``edgernn stream``: a call closes
        when a key would repeat."""
        for key, st in states.items():
            if self.resident.get(key) is not st:
                self._admit(key, st)
        out: list[tuple[str, str] | None] = [None] * len(items)
        tick: list[int] = []
        in_tick: set[str] = set()
        for i, p in enumerate(items):
            st = states[p.key]
            try:
                if not self._in_order(p, st):
                    continue  # a redelivery: skipped, as edgernn stream does
            except RecordError as e:
                out[i] = ("reject", reject_line(str(e), p.raw))
                continue
            if p.key in in_tick or len(tick) >= MAX_BATCH:
                self._tick([items[j] for j in tick], tick, out)
                tick, in_tick = [], set()
            if p.timestamp is not None:
                st.last_ts = p.timestamp
                st.recent = [*st.recent[-(RECENT - 1) :], _digest(p)]
            tick.append(i)
            in_tick.add(p.key)
        self._tick([items[j] for j in tick], tick, out)
        return [o for o in out if o is not None]

    def _admit(self, key: str, st: KeyState) -> None:
        """Make ``st`` the key's resident state, its stream in the pool."""
        if self.resident.pop(key, None) is not None and self._pooled(key):
            self.pool.remove(key)
        if st.stream is not None:
            self.pool.restore(key, st.stream)  # stepped from it on the key's next tick
            st.stream = None  # the pool holds it now
        self.resident[key] = st

    def _in_order(self, p: Parsed, st: KeyState) -> bool:
        """True: step it; False: a redelivery; RecordError: out of order (as edgernn stream)."""
        if p.timestamp is None:
            return True
        stamp = ts_order(p.timestamp)  # RecordError when not a finite number
        if st.last_ts is None or stamp > ts_order(st.last_ts):
            return True
        if _digest(p) in st.recent:
            return False
        raise RecordError(
            f"timestamp {p.timestamp!r} is not after this key's last ({st.last_ts!r}): "
            "out of order, or a repeat with other values"
        )

    def _tick(self, batch: list[Parsed], at: list[int], out: list[tuple[str, str] | None]) -> None:
        if not batch:
            return
        keys = [p.key for p in batch]
        rows = [np.array(p.values, np.float32) for p in batch]  # (F,) each
        for i, p, (step, forecast, score, anomaly, detector) in zip(
            at, batch, self._step(keys, rows)
        ):
            line: dict[str, Any] = {"key": p.key}
            if p.timestamp is not None:
                line["timestamp"] = p.timestamp
            line.update(step=step, forecast=forecast, anomaly_score=score, anomaly=anomaly)
            if anomaly:
                line["detector"] = detector
            out[i] = ("out", json.dumps(line, default=str))

    def _step(
        self, keys: list[str], rows: list[np.ndarray]
    ) -> Iterable[tuple[int, dict[str, float], float | None, bool, str | None]]:
        """As ``StreamRunner._step``: small ticks through ``Pool.step``, others batched."""
        if len(keys) <= SMALL_TICK:
            return [
                (r.step, r.forecast, r.anomaly_score, r.anomaly, r.detector)
                for r in self.pool.step(keys, rows)
            ]
        res = self.pool.step_batch(keys, np.stack(rows))  # (N, F) in
        names = self.model.signature.targets
        forecasts = [dict(zip(names, f)) for f in res.forecast.tolist()]
        scores = [None if z != z else z for z in res.anomaly_score.tolist()]  # NaN: warming up
        return zip(res.step.tolist(), forecasts, scores, res.anomaly.tolist(), res.detectors())


def reject_line(reason: str, raw: str) -> str:
    """A bad record's line for the rejects output: its reason and (the start of) the record."""
    return json.dumps({"reason": reason, "record": raw[:RAW]})


def shard_of(key: str, shards: int) -> int:
    """The shard a key's records are grouped under: stable across processes and restarts.

    >>> shard_of("sensor-7", 32) == shard_of("sensor-7", 32) < 32
    True
    """
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % shards


def _digest(p: Parsed) -> str:
    return record_digest(p.key, p.timestamp, p.values)
