"""MQTT sink: each output as JSON to ``prefix/<key>`` with QoS 1, riding out broker outages.

At most ``OUT_BUFFER`` outputs wait unconfirmed; then ``emit`` blocks (backpressure).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from typing import Any

from edgernn.errors import DataError
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

_PUBLISH_OK = (0, 4)  # paho's MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN


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
        self._noted = False
        self.client = connect(url, options, client_id="", clean_session=True, link=self.link)
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
        with self._cond:
            self._confirmed += 1
            self._cond.notify_all()

    def emit(self, obj: dict[str, Any]) -> None:
        """Publish one output; while ``buffer`` outputs wait for the broker, wait for room."""
        key = obj.get("key")
        topic = self.prefix if key is None else f"{self.prefix}/{_topic_safe(str(key))}"
        with self._cond:
            while self.waiting >= self.buffer and not (
                self.stop is not None and self.stop.is_set()
            ):
                self._cond.wait(0.2)
            self._sent += 1
        info = self.client.publish(topic, json.dumps(obj, default=str), qos=QOS)
        # NO_CONN: paho keeps it and sends it after reconnecting
        if info.rc not in _PUBLISH_OK:
            raise DataError(
                f"publishing to {topic!r} at {self.url.where} failed (paho error {info.rc}); "
                "check the broker"
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


def _topic_safe(key: str) -> str:
    """A key as one topic level: wildcards and separators would change where it goes."""
    return "".join("_" if c in "+#/\x00" else c for c in key) or "_"


def open_mqtt_sink(spec: str, options: LiveOptions, stack: ExitStack) -> MqttSink:
    sink = MqttSink(parse_url(spec, sink=True), options)
    stack.callback(sink.close)
    return sink
