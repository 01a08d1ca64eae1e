"""The streaming loop behind ``edgernn stream``: records in, one output per good record out.

Every key gets its own stream in one ``Pool``. Records are read on a background thread into a
bounded queue (backpressure on the source) and grouped into ticks: a tick closes when a key
would repeat (order within a key is kept), when ``max_batch`` keys are waiting, when the input
is momentarily drained and the oldest record has waited ``max_delay_ms``, or at the end. Each
tick is one graph call. Bad records are counted, handed to ``reject`` with the reason, and
skipped: the good records around them are processed exactly as if they had not been there.
A record with the same key, timestamp and values as one of the latest accepted ones (a
redelivery) is a duplicate: skipped and counted, not rejected. An output whose step fired a
detector says which: ``"anomaly": true, "detector": "residual"`` (one surprising value),
``"drift"`` (a sustained shift: ``edgernn.core.drift``) or ``"residual+drift"``; other lines
have no ``detector``.

With a ``state_dir`` the pool is checkpointed to SQLite (``edgernn.serve.store``: one row per
key, each checkpoint one transaction writing only the keys changed since the last one) every
``checkpoint_every_steps`` steps or ``checkpoint_every_s`` seconds and when the run ends (also
on Ctrl-C / SIGTERM); a new run resumes each key from its row when the key's next record
arrives and skips replayed records (timestamp not after the key's last one). Spilled keys
(``idle_s``) live in the database, with their timestamps.
A checkpoint waits for ``sync`` (the sink) to confirm every output; when it cannot (an MQTT
broker that is down), the checkpoint is postponed, so the saved state never runs ahead of the
outputs delivered. ``stop()`` ends ``run`` after the record in hand (a signal handler's way out).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from edgernn.core.model import Model
from edgernn.core.pool import SMALL_TICK, Pool
from edgernn.errors import RecordError, StateError
from edgernn.feeds.dedup import Recent
from edgernn.feeds.keys import key_value
from edgernn.feeds.records import CsvRows, Record, sniff_format
from edgernn.serve.config import RunnerConfig, record_parser
from edgernn.serve.inbox import END, Inbox, read_into
from edgernn.serve.order import digest, order_of, seconds_between
from edgernn.serve.stats import RunStats, reason_kind
from edgernn.serve.store import StateStore

Emit = Callable[[dict[str, Any]], None]


class StreamRunner:
    """Feeds records to the keyed streams of one model's pool and emits one dict per step."""

    def __init__(
        self,
        model: Model,
        config: RunnerConfig | None = None,
        emit: Emit = print,
        reject: Emit | None = None,
        sync: Callable[[], bool | None] | None = None,
        done: Callable[[int], None] | None = None,
        idle: Callable[[], object] | None = None,
        checkpointed: Callable[[], None] | None = None,
        held: Callable[[], int] | None = None,
        notice: Callable[[str], None] | None = None,
    ):
        """``sync`` (e.g. ``sys.stdout.flush``) runs before each checkpoint, so no output
        older than the saved state can be lost in a buffer. ``idle`` (e.g. ``sys.stdout.flush``)
        runs whenever the input is drained and no tick is open, so the outputs of a quiet live
        feed do not wait in a buffer for more. ``done(position)`` is told when
        every record up to ``position`` is finished: emitted, rejected or skipped. A source
        acknowledges messages there, so what was read but not finished (beyond --limit, or
        when the process dies) is delivered again. With a state_dir, a source that holds its
        acks for a checkpoint (``LiveSource.hold_acks``) passes ``checkpointed``, called right
        after each checkpoint is committed, and ``held``, how many finished messages wait for
        one: at ``ack_every`` of them, or when the input is drained and ``checkpoint_every_s``
        has passed, a checkpoint is made, so the broker's in-flight window never stays full.
        ``notice`` hears one line when an old single-file state directory is migrated to
        SQLite."""
        self.model, self.config = model, config or RunnerConfig()
        self.sync, self.done, self.idle = sync, done, idle
        self.checkpointed, self.held = checkpointed, held
        self._fed_upto = self._released = 0  # positions fed to the runner / reported done
        cfg = self.config
        self.parser = record_parser(model.signature, cfg.key_field, cfg.timestamp_field, cfg.ignore)
        # the state directory's database (opened, or migrated, before anything runs)
        self.store = None if cfg.state_dir is None else StateStore(cfg.state_dir, model, notice)
        self.pool = Pool(
            model,
            threshold=cfg.threshold,
            idle_s=cfg.idle_s,
            drift_threshold=cfg.drift_threshold,
            spilled=None if self.store is None else self.store.spilled,
        )
        if self.store is not None:
            self.store.bind(self.pool)
        self.emit, self.reject = emit, reject
        self.stats = RunStats()
        # key -> timestamp of its last accepted record (keys in the pool; with a state_dir,
        # a spilled key's is in the database)
        self.last_ts: dict[Any, Any] = {}
        self._recent = Recent()  # digests of the latest accepted timestamped records (duplicates)
        self._stop = False
        self.waiting = False  # blocked waiting for input: nothing is half done
        self.behind = False  # the last checkpoint was postponed: the saved state is older
        # key -> its last timestamp in the checkpoint resumed from (keys in the pool)
        self.resumed_ts: dict[Any, Any] = {}
        self._broken = False  # the state store failed: no further checkpoint may be written
        self._batch: list[tuple[Record, int]] = []  # records of the open tick, with their read time
        self._batch_keys: set[Any] = set()  # their keys (a repeat closes the tick)
        self._batch_from = 0  # position of the open tick's first record
        self._csv: CsvRows | None = None
        self._format: str | None = None
        self._since_checkpoint = (0, time.monotonic())

    @property
    def keys(self) -> int:
        return len(self.pool) + len(self.pool.spilled)

    def stop(self) -> None:
        """Make ``run`` return after the record in hand (its tick is finished and checkpointed)."""
        self._stop = True

    def run(
        self,
        items: Iterable[tuple[int, str | Mapping[str, Any]]],
        fmt: str = "auto",
        limit: int | None = None,
    ) -> RunStats:
        """Process ``(position, line-or-mapping)`` items; ``limit`` caps the records read."""
        self._format = None if fmt == "auto" else fmt
        q = Inbox(self.config.queue_size)
        threading.Thread(target=read_into, args=(items, q), daemon=True).start()
        seen = 0
        try:
            while (limit is None or seen < limit) and not self._stop:
                item = self._next(q)
                if item is END:
                    break
                if item is None:  # waited max_delay_ms (or for a due checkpoint): close the tick
                    self.flush()
                    self._maybe_checkpoint()
                    continue
                if isinstance(item, BaseException):
                    raise item
                position, raw = item
                if not self._is_header(raw):
                    seen += 1
                    self.feed(position, raw)
        except StateError:  # a damaged key or a failed checkpoint: the saved state stays as it is
            self._broken = True
            raise
        finally:
            self.flush()
            try:
                self.checkpoint()
            finally:
                if self.store is not None:  # released: the state directory is free again
                    self.store.close()
            self._release()
        return self.stats

    def feed(self, position: int, item: str | Mapping[str, Any]) -> None:
        """One record: into the open tick, or counted and handed to ``reject``."""
        try:
            record = self._parse(item)
        except RecordError as e:
            self._rejected(position, item, str(e))
            return self._finished(position)
        try:
            last, resumed = self._stamps(record)
            order = order_of(record, last, resumed, self._recent)
            if order != "ok":
                self.stats.replayed += order == "replayed"
                self.stats.duplicates += order == "duplicate"
                return self._finished(position)
            self._admit(record)
        except RecordError as e:
            self._rejected(position, item, str(e))
            return self._finished(position)
        if record.key in self._batch_keys or len(self._batch) >= self.config.max_batch:
            self.flush()  # it releases what came before this record, and may checkpoint
        # only now is this record fed: a checkpoint made by that flush does not hold it
        self._fed_upto = max(self._fed_upto, position)
        if self._gap(record, last) and self.config.gap_policy == "reset":
            self.pool.reset(record.key)
        if record.timestamp is not None:
            self.last_ts[record.key] = record.timestamp
            self._recent.add(digest(record))
        if resumed is not None:
            self.resumed_ts[record.key] = resumed
        if not self._batch:
            self._batch_from = position
        self._batch.append((record, time.perf_counter_ns()))
        self._batch_keys.add(record.key)

    def flush(self) -> None:
        """Close the open tick: one graph call for its keys, one output per record."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self._batch_keys = set()
        keys = [r.key for r, _ in batch]
        t0 = time.perf_counter_ns()
        results = self._step(keys, [r.values for r, _ in batch])
        tick_ns = time.perf_counter_ns() - t0
        self.stats.ticks += 1
        anomalies = 0
        for (record, t_read), (step, forecast, score, anomaly, detector) in zip(batch, results):
            line: dict[str, Any] = {} if record.key is None else {"key": key_value(record.key)}
            if record.timestamp is not None:
                line["timestamp"] = record.timestamp
            line.update(step=step, forecast=forecast, anomaly_score=score, anomaly=anomaly)
            if anomaly:
                line["detector"] = detector
                self.stats.drifts += detector != "residual"
            self.emit(line)
            anomalies += anomaly
            self.stats.latency.add(tick_ns)
            self.stats.end_to_end.add(time.perf_counter_ns() - t_read)
        self.stats.steps += len(batch)
        self.stats.anomalies += anomalies
        spilled = self.pool.evict_idle()
        self.stats.spills += len(spilled)
        if self.store is not None:  # their timestamps go to the database with their state
            for key in spilled:
                self.store.spilled.park(
                    key, self.last_ts.pop(key, None), self.resumed_ts.pop(key, None)
                )
        self._release()
        self._maybe_checkpoint()

    def _step(
        self, keys: list[str | None], rows: list[np.ndarray]
    ) -> Iterable[tuple[int, dict[str, float], float | None, bool, str | None]]:
        """One tick through the pool as (step, forecast, anomaly_score, anomaly, detector) per
        record, in Python values: small ticks as ``StepResult``s (the pool's Python-number path),
        larger ones from ``step_batch``'s arrays, converted with one ``tolist`` per field."""
        if len(keys) <= SMALL_TICK:
            return [
                (r.step, r.forecast, r.anomaly_score, r.anomaly, r.detector)
                for r in self.pool.step(keys, rows)
            ]
        out = self.pool.step_batch(keys, np.stack(rows))
        names = self.model.signature.targets
        forecasts = [dict(zip(names, f)) for f in out.forecast.tolist()]
        # NaN: still warming up
        scores = [None if z != z else z for z in out.anomaly_score.tolist()]
        return zip(out.step.tolist(), forecasts, scores, out.anomaly.tolist(), out.detectors())

    def checkpoint(self) -> None:
        """Write the state of every key changed since the last checkpoint to the state
        database in one transaction (no-op without a state_dir). StateError (naming the file)
        when it fails: rolled back, the previous checkpoint intact, and no further one is
        tried (the run stops; a restart goes on from the previous checkpoint)."""
        if self.store is None or self._broken:
            return
        self.flush()
        if self.sync is not None and self.sync() is False:  # the sink could not confirm: try later
            self.stats.deferred += 1
            self.behind = True
            self._since_checkpoint = (self.stats.steps, time.monotonic())
            return
        try:
            self.store.commit(self.pool, self.last_ts, self.resumed_ts)
        except StateError:
            self._broken = True
            raise
        self.stats.checkpoints += 1
        self.behind = False
        self._since_checkpoint = (self.stats.steps, time.monotonic())
        self._release()
        if self.checkpointed is not None:  # what the checkpoint covers may be acknowledged now
            self.checkpointed()

    def _finished(self, position: int) -> None:
        """A record that needs no step (rejected or skipped) is finished as soon as it is read
        (a run of them may fill a broker's in-flight window too: checkpoint when due)."""
        self._fed_upto = max(self._fed_upto, position)
        self._release()
        self._maybe_checkpoint()

    def _release(self) -> None:
        """Tell ``done`` how far records are finished (see __init__): everything fed, except
        the open tick's records, which are not emitted yet."""
        upto = self._batch_from - 1 if self._batch else self._fed_upto
        if self.done is not None and upto > self._released:
            self._released = upto
            self.done(upto)

    # ---- internals --------------------------------------------------------------------------
    def _next(self, q: Inbox) -> Any:
        """The next item, or None when the open tick has waited long enough. While it blocks,
        ``waiting`` is True: a signal handler may stop the run right there."""
        try:
            return q.get(timeout=0)  # the busy path: no wait
        except queue.Empty:
            pass
        if not self._batch and self.idle is not None:
            self.idle()  # nothing to do until more input: what was emitted goes out now
        self.waiting = True
        try:
            # stop() came after the loop's check (a signal seeing the runner busy): do not wait
            if self._stop:
                return END
            if not self._batch and not self._holding():
                return q.get()
            if not self._batch:  # acks wait for a checkpoint: make it when it is due
                at = self._since_checkpoint[1]
                wait = at + self.config.checkpoint_every_s - time.monotonic()
                try:
                    return q.get(timeout=max(0.0, wait))
                except queue.Empty:
                    return None
            waited_ms = (time.perf_counter_ns() - self._batch[0][1]) / 1e6
            try:
                return q.get(timeout=max(0.0, self.config.max_delay_ms - waited_ms) / 1e3)
            except queue.Empty:
                return None
        finally:
            self.waiting = False

    def _maybe_checkpoint(self) -> None:
        steps, at = self._since_checkpoint
        cfg = self.config
        if cfg.state_dir is not None and (
            self.stats.steps - steps >= cfg.checkpoint_every_steps
            or time.monotonic() - at >= cfg.checkpoint_every_s
            or (self.held is not None and self.held() >= cfg.ack_every)
        ):
            self.checkpoint()

    def _holding(self) -> bool:
        """Do finished messages wait for a checkpoint to be acknowledged?"""
        return self.config.state_dir is not None and self.held is not None and self.held() > 0

    def _stamps(self, record: Record) -> tuple[Any, Any]:
        """(last timestamp, resumed timestamp) of the record's key, for a timestamped record:
        in memory for keys in the pool or the open tick, else from the state database."""
        key = record.key
        if record.timestamp is None:
            return None, None
        if key in self.last_ts or self.store is None or key in self.pool:
            return self.last_ts.get(key), self.resumed_ts.get(key)
        return self.store.last(key) or (None, None)

    def _admit(self, record: Record) -> None:
        """RecordError for a new key beyond max_keys."""
        limit = self.config.max_keys
        if limit is None or record.key in self.pool or record.key in self.pool.spilled:
            return
        # new keys not yet stepped
        pending = {r.key for r, _ in self._batch if r.key not in self.pool}
        if record.key not in pending and self.keys + len(pending) >= limit:
            shown = str(key_value(record.key or ""))[:40]
            raise RecordError(f"new key {shown!r} beyond --max-keys {limit}")

    def _gap(self, record: Record, last: Any) -> bool:
        """Is the time since this key's ``last`` record longer than gap_limit? (counted)"""
        if self.config.gap_limit is None or last is None or record.timestamp is None:
            return False
        gap = seconds_between(last, record.timestamp)
        if gap is None or gap <= self.config.gap_limit:
            return False
        self.stats.gaps += 1
        return True

    def _is_header(self, item: Any) -> bool:
        """The first line of a CSV input is its header: read it and say so."""
        if not isinstance(item, str) or self._csv is not None:
            return False
        if self._format is None:
            self._format = sniff_format(item, self.parser)  # None: not a header, a bad record
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

    def _rejected(self, position: int, item: Any, reason: str) -> None:
        self.stats.rejected += 1
        self.stats.reasons[reason_kind(reason)] += 1
        if self.reject is not None:
            raw = item[:1000] if isinstance(item, str) else dict(item)
            self.reject({"line": position, "reason": reason, "record": raw})
