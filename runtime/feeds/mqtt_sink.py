"""MQTT sink: each output as JSON to ``prefix/<key>`` with QoS 1, riding out broker outages.

At most ``OUT_BUFFER`` outputs wait unconfirmed; then ``emit`` blocks (backpressure).

The key becomes one topic level (``topic_level``), valid for any key: every character MQTT
forbids or a broker refuses in a topic (``+``, ``#``, ``/``, NUL and other control characters,
lone surrogates, noncharacters), and ``%`` itself, is percent-encoded byte by byte (its UTF-8
bytes, ``%2F`` for ``/``); every other character stays as it is, so ``s1`` or ``sensor-7`` keep
the topic they always had, and ``a/b`` (``a%2Fb``) and ``a_b`` get two. A key that is not a
string goes by its id (``edgernn.feeds.keys``): the number ``1`` publishes to ``%001``, the
string ``"1"`` to ``1``. ``key_of_level`` undoes
it. A level that would pass ``MAX_LEVEL`` bytes is cut and ends in ``%%`` and 32 hex digits of
the key's SHA-256 (stable and distinct, not reversible; ``%%`` appears in no other level). An
output that cannot be published anyway is skipped and counted (``rejected``), never retried.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from contextlib import ExitStack
from typing import Any

from edgernn.errors import RecordError
from edgernn.feeds.keys import key_id
from edgernn.feeds.mqtt import (
    OUT_BUFFER,
    QOS,
    TIMEOUT_S,
    Link,
    MqttUrl,
    connect,
    disconnect_cleanly,
    parse_url,
)
from edgernn.feeds.options import LiveOptions
from edgernn.feeds.replay import Replay

_PUBLISH_OK = (0, 4)  # paho's MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN
MAX_LEVEL = 256  # bytes of a key's topic level at most; a longer one is cut and hashed
_KEEP = MAX_LEVEL // 2  # bytes of the encoded key a hashed level keeps before ``%%``
_HASH_HEX = 32  # hex digits of the key's SHA-256 that end a hashed level


class MqttSink:
    """Publishes each output as JSON to ``prefix/<key>`` (``prefix`` when unkeyed), QoS 1.

    paho keeps every output until the broker confirms it (PUBACK) and sends it again after a
    reconnection, so an outage delays outputs but loses none. A broker session is not needed
    for that (the sink publishes only), so the client id is the broker's choice."""

    def __init__(self, url: MqttUrl, options: LiveOptions, buffer: int = OUT_BUFFER):
        self.prefix, self.url, self.buffer, self.stop = (
            url.topic.rstrip("/"),
            url,
            buffer,
            options.stop,
        )
        self.link = Link(f"MQTT sink {url.where}", options.notify)
        self._cond = threading.Condition()
        self._sent = self._confirmed = 0  # outputs published / confirmed by the broker
        self.rejected = 0  # outputs that could not be published: skipped, not retried
        self._noted = False
        self.replay = Replay()  # outputs the broker confirmed lately: sent again on reconnecting
        self.republished = 0  # outputs published again after reconnections
        self.client = connect(
            url,
            options,
            client_id="",
            clean_session=True,
            link=self.link,
            on_connected=self._connected,
        )
        self.client.on_publish = self._on_publish
        self.closed = False

    @property
    def waiting(self) -> int:
        """Outputs published but not yet confirmed by the broker."""
        return self._sent - self._confirmed

    @property
    def reconnects(self) -> int:
        return self.link.reconnects

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        self.replay.confirmed(mid)
        with self._cond:
            self._confirmed += 1
            self._cond.notify_all()

    def _connected(self, client: Any) -> None:
        """Network thread, after every connection: on a reconnection, publish again what the
        broker confirmed just before the loss (``edgernn.feeds.replay``): a broker that was
        killed may have lost it. paho itself sends again what was never confirmed."""
        if self.link.connections < 2:
            return
        due = self.replay.due()
        for topic, payload in due:
            with self._cond:
                self._sent += 1
            if self._publish(client, topic, payload)[0] not in _PUBLISH_OK:
                with self._cond:  # never in flight: nothing for the broker to confirm
                    self._sent -= 1
        self.republished += len(due)
        if due and self.link.notify is not None:
            self.link.notify(
                f"{self.link.name}: published again the {len(due)} output(s) the broker "
                f"confirmed in the {self.replay.window_s:g} s before the connection was lost "
                "(a broker that crashed loses what it had not saved); they may arrive twice"
            )

    def _publish(self, client: Any, topic: str, payload: bytes) -> tuple[int | None, str]:
        """Publish one counted output at QoS 1: paho's return code (None: refused) and why."""
        try:
            info = client.publish(topic, payload, qos=QOS)
        except ValueError as e:  # paho refuses the topic or payload before sending anything
            return None, str(e)
        if info.rc in _PUBLISH_OK:
            self.replay.sent(info.mid, topic, payload)
        return info.rc, f"paho error {info.rc}"

    def emit(self, obj: dict[str, Any]) -> None:
        """Publish one output; while ``buffer`` outputs wait for the broker, wait for room."""
        key = obj.get("key")
        topic = self.prefix if key is None else f"{self.prefix}/{topic_level(_ident(key))}"
        with self._cond:
            while self.waiting >= self.buffer and not (
                self.stop is not None and self.stop.is_set()
            ):
                self._cond.wait(0.2)
            self._sent += 1
        rc, why = self._publish(self.client, topic, json.dumps(obj, default=str).encode())
        # NO_CONN: paho keeps it and sends it after reconnecting
        if rc not in _PUBLISH_OK:
            self._reject(topic, key, why)

    def _reject(self, topic: str, key: Any, why: str) -> None:
        """An output that cannot be published: counted and skipped (said once), so it can
        neither stop the stream nor hold back the other keys' outputs."""
        with self._cond:
            self._sent -= 1  # never in flight: nothing for the broker to confirm
            self.rejected += 1
            self._cond.notify_all()
        if self.rejected == 1 and self.link.notify is not None:
            self.link.notify(
                f"{self.link.name}: an output for key {str(key)[:80]!r} could not be published "
                f"to {topic[:120]!r} ({why}); such outputs are skipped and counted"
            )

    def flush(self) -> bool:
        """Wait (at most TIMEOUT_S) until the broker has confirmed every output: True when it
        has. While the broker is unreachable it does not wait and says False, so a checkpoint
        waits for a later chance instead of saving state ahead of what was delivered."""
        ok = self._wait(TIMEOUT_S, connected_only=True)
        if not ok and not self._noted and self.link.notify is not None:
            self._noted = True
            self.link.notify(
                f"{self.link.name}: {self.waiting} output(s) wait for the broker; "
                "checkpoints are postponed until it has them"
            )
        return ok

    def _wait(self, timeout_s: float, connected_only: bool) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.waiting > 0:
                left = deadline - time.monotonic()
                if left <= 0 or (connected_only and not self.link.connected):
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def close(self) -> int:
        """Wait up to TIMEOUT_S for the broker to confirm the last outputs (reconnecting if it
        must), disconnect; the number it never confirmed (0: all delivered)."""
        if self.closed:
            return 0
        self.closed = True
        self._wait(TIMEOUT_S, connected_only=False)
        left = self.waiting
        disconnect_cleanly(self.client)
        return left


def _ident(key: Any) -> str:
    """The key's id (``edgernn.feeds.keys``): ``1`` and ``"1"`` get two topics."""
    try:
        return key_id(key)
    except (RecordError, ValueError):  # not a key the runner makes: its text
        return str(key)


def topic_level(key: str) -> str:
    """``key`` as one MQTT topic level that any broker takes, distinct for distinct keys:
    what MQTT forbids, and ``%``, percent-encoded; hashed when longer than ``MAX_LEVEL`` bytes.

    >>> topic_level("sensor-7"), topic_level("a/b"), topic_level("a\\tb"), topic_level("+#%")
    ('sensor-7', 'a%2Fb', 'a%09b', '%2B%23%25')
    >>> level = topic_level("k" * 70_000)
    >>> level[:6], level[128:130], len(level)
    ('kkkkkk', '%%', 162)
    """
    pieces = [_escaped(c) if _forbidden(c) else c for c in key]
    sizes = [len(p.encode("utf-8")) for p in pieces]
    if sum(sizes) <= MAX_LEVEL:
        return "".join(pieces)
    kept, used = [], 0
    for piece, size in zip(pieces, sizes):
        if used + size > _KEEP:
            break
        kept.append(piece)
        used += size
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_HEX]
    return "".join(kept) + "%%" + digest


def key_of_level(level: str) -> str:
    """The key ``topic_level`` made ``level`` from (a subscriber's way back); a hashed level
    cannot be undone.

    >>> key_of_level("a%2Fb"), key_of_level("caf%C3%A9%25")
    ('a/b', 'café%')
    """
    if "%%" in level:
        raise ValueError(f"topic level {level[:40]!r}... is hashed (a key over {MAX_LEVEL} bytes)")
    raw = bytearray()
    i = 0
    while i < len(level):
        if level[i] == "%":
            raw.append(int(level[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += level[i].encode("utf-8")
            i += 1
    return raw.decode("utf-8", "surrogatepass")


def _forbidden(c: str) -> bool:
    """A character a topic level cannot hold as it is: wildcards, the level separator, ``%``
    (the escape), control characters, lone surrogates and noncharacters (brokers refuse them)."""
    n = ord(c)
    return (
        c in "+#/%"
        or n < 0x20
        or 0x7F <= n <= 0x9F
        or 0xD800 <= n <= 0xDFFF
        or 0xFDD0 <= n <= 0xFDEF
        or n & 0xFFFE == 0xFFFE
    )


def _escaped(c: str) -> str:
    return "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))


def open_mqtt_sink(spec: str, options: LiveOptions, stack: ExitStack) -> MqttSink:
    sink = MqttSink(parse_url(spec, sink=True), options)
    stack.callback(sink.close)
    return sink
