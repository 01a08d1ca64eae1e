"""MQTT source: a subscription in a persistent session, each message one record (or CSV rows).

Messages are acknowledged (QoS 1 PUBACK) only when the records they carried are finished, so
what a run read but did not finish is delivered again to the next run; see ``MqttSource``. With
durable state (``hold_acks``) a finished message is acknowledged only once a committed
checkpoint covers it (``checkpointed``), so a crash between two checkpoints loses nothing: the
broker delivers again what the saved state has not seen.
"""

from __future__ import annotations

import json
import queue
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from edgernn.errors import DataError, RecordError, UsageError
from edgernn.feeds.dedup import Recent
from edgernn.feeds.mqtt import (
    QOS,
    QUEUE_SIZE,
    TIMEOUT_S,
    Link,
    MqttUrl,
    confirm_sent,
    connect,
    default_client_id,
    disconnect_cleanly,
    parse_url,
)
from edgernn.feeds.options import Item, LiveOptions, csv_cell, split_lines
from edgernn.feeds.records import MAX_LINE, check_unique

_CLOSED = None


class MqttSource:
    """Messages of one subscription as runner items; iterate from one thread, close from any.

    A message the broker sends again (MQTT DUP flag, e.g. after a reconnection) whose topic and
    payload match one of the last ``RECENT`` messages is acknowledged and skipped, counted in
    ``duplicates``: feeds without timestamps get no double outputs from redeliveries."""

    RECENT = 10_000

    def __init__(self, url: MqttUrl, fmt: str, options: LiveOptions):
        if options.key_level is not None and not options.key_field:
            raise UsageError(
                "--mqtt-key-level needs --key FIELD: the name the topic's key gets in each record"
            )
        self.url, self.fmt, self.options = url, fmt, options
        # (topic, payload, mid, qos, dup) per message, then _CLOSED
        self.queue: queue.Queue[tuple[str, bytes, int, int, bool] | None] = queue.Queue(QUEUE_SIZE)
        self.closed = threading.Event()
        self.columns = _csv_columns(options) if fmt == "csv" else None
        self._subscribed, self._granted = threading.Event(), None
        self.link = Link(f"MQTT source {url.where}", options.notify)
        self.duplicates = 0  # redelivered messages skipped
        self._seen = Recent(self.RECENT)  # digests of the latest messages
        client_id = options.client_id or default_client_id(url)
        # (last item position, mid, qos) per message, in order
        self._unacked: deque[tuple[int, int, int]] = deque()
        self._ack_lock = threading.Lock()
        self._done_upto = 0
        self._hold = False  # acks wait for a checkpoint (hold_acks)
        self._finished: list[tuple[int, int]] = []  # (mid, qos) finished, held for a checkpoint
        self.client = connect(
            url,
            options,
            client_id,
            clean_session=False,
            link=self.link,
            on_connected=self._subscribe,
            on_message=self._on_message,
            manual_ack=True,
        )
        if (
            not self._subscribed.wait(TIMEOUT_S)
            or self._granted is None
            or self._granted.is_failure
        ):
            self.close()
            raise DataError(
                f"the MQTT broker at {url.where} did not grant the subscription to {url.topic!r} "
                f"({self._granted or 'no answer'}); check the topic filter and the broker's ACL"
            )
        if options.notify is not None:  # the first line a gateway's log needs
            options.notify(f"MQTT source: connected to {url.where}, subscribed to {url.topic}")

    @property
    def reconnects(self) -> int:
        """Times the connection was lost and made again (paho retries with backoff)."""
        return self.link.reconnects

    def _subscribe(self, client: Any) -> None:
        """(Re)subscribe on every connection: a broker that lost the session gets it back."""

        def on_subscribe(
            c: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any
        ) -> None:
            self._granted = reason_codes[0]
            self._subscribed.set()

        client.on_subscribe = on_subscribe
        client.subscribe(self.url.topic, qos=QOS)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """Network thread: hand the message on, waiting (backpressure) while the queue is full."""
        msg = (message.topic, message.payload, message.mid, message.qos, message.dup)
        while not self.closed.is_set():
            try:
                self.queue.put(msg, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Item]:
        n = 0
        if self.columns is not None:
            yield 0, ",".join(map(csv_cell, self.columns))
        while True:
            msg = self.queue.get()
            if msg is _CLOSED:
                return
            topic, payload, mid, qos, dup = msg
            digest = hash((topic, payload))
            if dup and digest in self._seen:
                self.duplicates += 1
                with self._ack_lock:  # acked as soon as what came before it is done
                    self._unacked.append((n, mid, qos))
                self.done(self._done_upto)
                continue
            self._seen.add(digest)
            items = self.items(topic, payload)
            with self._ack_lock:  # registered before its items go out: done() may come at once
                self._unacked.append((n + len(items), mid, qos))
            for item in items:
                n += 1
                yield n, item

    def done(self, position: int) -> None:
        """Acknowledge (QoS 1 PUBACK) every message whose items up to ``position`` are finished:
        a message read but not finished when the process dies is delivered again."""
        with self._ack_lock:
            self._done_upto = max(self._done_upto, position)
            while self._unacked and self._unacked[0][0] <= self._done_upto:
                _, mid, qos = self._unacked.popleft()
                if self._hold:
                    self._finished.append((mid, qos))
                elif qos > 0:
                    self.client.ack(mid, qos)

    def hold_acks(self) -> None:
        """From now on a finished message is acknowledged only by ``checkpointed``: for a run
        with durable state, whose outputs a crash would otherwise lose with the message."""
        self._hold = True

    def held(self) -> int:
        """Finished messages waiting for a checkpoint to be acknowledged. They count against
        the broker's in-flight window (mosquitto's ``max_inflight_messages``, 20 by default):
        once it is full the broker sends nothing more until they are acknowledged."""
        with self._ack_lock:
            return len(self._finished)

    def checkpointed(self) -> None:
        """A checkpoint holding every finished record is committed: acknowledge their messages."""
        with self._ack_lock:
            finished, self._finished = self._finished, []
        for mid, qos in finished:
            if qos > 0:
                self.client.ack(mid, qos)

    def items(self, topic: str, payload: bytes) -> Sequence[str | Mapping[str, Any]]:
        """One message as runner items: CSV rows, a JSON object with its key, or raw text."""
        key = self._topic_key(topic)
        if self.fmt == "csv":
            rows = split_lines(payload) or [""]
            if self.options.key_level is None:
                return rows
            return [f"{row},{csv_cell(key or '')}" for row in rows]
        text = payload.decode("utf-8", errors="surrogateescape")
        obj = _json_object(text)
        if obj is None:
            return [text]  # not a JSON object: the runner rejects it with the reason
        if key is not None:
            obj[self.options.key_field] = key  # type: ignore[index]
        return [obj]

    def _topic_key(self, topic: str) -> str | None:
        level = self.options.key_level
        if level is None:
            return None
        parts = topic.split("/")
        return parts[level] if level < len(parts) and parts[level] else None

    def close(self) -> None:
        """Stop the network loop, leave the session at the broker, end the iteration. The acks
        sent so far are confirmed first (``confirm_sent``): a run started right after this one
        with the same client id takes the session over, and the broker drops whatever the old
        connection still had in flight, so unconfirmed acks would mean messages sent twice."""
        if self.closed.is_set():
            return
        self.closed.set()
        confirm_sent(self.client, self.url.topic)
        disconnect_cleanly(self.client)
        try:
            self.queue.put_nowait(_CLOSED)
        except queue.Full:
            pass


def _csv_columns(options: LiveOptions) -> list[str]:
    columns = [c.strip() for c in (options.csv_header or "").split(",")]
    if options.key_level is not None:
        if options.key_field in columns:
            raise UsageError(
                f"--csv-header already has the key column {options.key_field!r}; "
                "drop it there or drop --mqtt-key-level"
            )
        columns.append(options.key_field)  # type: ignore[arg-type]
    return columns


def _json_object(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_LINE:
        return None
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            check_unique(text, obj)
    except (ValueError, RecursionError, RecordError):  # the runner rejects the text, saying why
        return None
    return obj if isinstance(obj, dict) else None


def open_mqtt_source(source: str, fmt: str, options: LiveOptions, stack: ExitStack) -> MqttSource:
    """Connect and subscribe now (errors surface before the stream starts); closed by ``stack``."""
    src = MqttSource(parse_url(source), fmt, options)
    stack.callback(src.close)
    return src
