"""MQTT in and out, with paho-mqtt (the ``feeds`` extra, imported only when used).

Source: ``mqtt://[user:pass@]host[:port]/topic/filter/#`` subscribes with QoS 1 in a persistent
session (clean session off, a stable client id), so messages published while edgernn is down
wait at the broker. Each message becomes one record: a JSON object (with the key taken from a
topic level injected under ``--key``), or CSV rows against ``--csv-header``. A payload that is
not a JSON object goes on as raw text, so the runner rejects it with a reason.

Sink: ``mqtt://host[:port]/prefix`` publishes each output as JSON to ``prefix/<key>`` (QoS 1).

Credentials come from the URL or ``EDGERNN_MQTT_USERNAME`` / ``EDGERNN_MQTT_PASSWORD`` and
never appear in a message: errors name the broker as ``host:port`` only. ``mqtts://`` (or any
``--tls-*`` option) turns TLS on.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import ssl
import threading
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import unquote

from edgernn.errors import DataError, UsageError
from edgernn.records import MAX_LINE
from edgernn.source_urls import Item, LiveOptions, csv_cell, require, split_lines

QOS = 1
TIMEOUT_S = 10.0  # connecting, subscribing, and waiting for the last publishes at the end
QUEUE_SIZE = 10_000  # messages held between the network thread and the runner (backpressure)
_CLOSED = None


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    topic: str  # a subscription filter (source) or a topic prefix (sink)
    tls: bool
    username: str | None = None
    password: str | None = None

    @property
    def where(self) -> str:
        """The broker as ``host:port``: safe to print (no credentials)."""
        return f"{self.host}:{self.port}"


def parse_url(url: str) -> MqttUrl:
    """Split an MQTT URL by hand: ``#`` is a topic wildcard here, not a URL fragment."""
    scheme, _, rest = url.partition("://")
    tls = scheme.lower() == "mqtts"
    netloc, _, topic = rest.partition("/")
    user = password = None
    if "@" in netloc:
        creds, _, netloc = netloc.rpartition("@")
        user, _, pw = creds.partition(":")
        user, password = unquote(user) or None, unquote(pw) if pw else None
    host, port = _host_port(netloc, 8883 if tls else 1883)
    if not topic:
        raise UsageError(f"MQTT URL mqtt://{host}:{port}/ has no topic; e.g. mqtt://{host}:{port}/sensors/+/data")
    return MqttUrl(host, port, topic, tls, user, password)


def _host_port(netloc: str, default: int) -> tuple[str, int]:
    if netloc.startswith("["):  # [IPv6]:port
        host, _, after = netloc[1:].partition("]")
        port_text = after.lstrip(":")
    else:
        host, _, port_text = netloc.partition(":")
    if not host:
        raise UsageError("MQTT URL has no host; e.g. mqtt://127.0.0.1:1883/sensors/#")
    if not port_text:
        return host, default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"MQTT port {port_text[:20]!r} is not a port number (1-65535)")
    return host, int(port_text)


def default_client_id(url: MqttUrl) -> str:
    """A client id that is the same on every run with the same broker and topic filter, so a
    restarted stream resumes its persistent session (pass --client-id to choose one)."""
    digest = hashlib.sha256(f"{url.host}:{url.port}/{url.topic}".encode()).hexdigest()[:12]
    return f"edgernn-{digest}"


def connect(url: MqttUrl, options: LiveOptions, client_id: str, clean_session: bool,
            on_connected=None, on_message=None, manual_ack: bool = False) -> Any:
    """A connected paho client with its network loop running; DataError when the broker cannot
    be reached or refuses. ``on_connected(client)`` runs after every (re)connection;
    ``on_message`` is set before connecting (a resumed session delivers right after CONNACK)."""
    mqtt = require("paho.mqtt.client", "paho-mqtt")
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, manual_ack=manual_ack)
    username = url.username or os.environ.get("EDGERNN_MQTT_USERNAME")
    password = url.password or os.environ.get("EDGERNN_MQTT_PASSWORD")
    if username:
        client.username_pw_set(username, password)
    if url.tls or options.tls_ca or options.tls_cert or options.tls_key:
        _tls(client, options)
    answered, result = threading.Event(), {}

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        result["rc"] = reason_code
        if not reason_code.is_failure and on_connected is not None:
            on_connected(c)
        answered.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(url.host, url.port, keepalive=60)
    except (OSError, ssl.SSLError) as e:
        raise DataError(f"cannot connect to the MQTT broker at {url.where} ({_why(e)}); "
                        "check the host, the port and that the broker runs") from None
    client.loop_start()
    if not answered.wait(TIMEOUT_S) or result["rc"].is_failure:
        client.loop_stop()
        why = f"refused: {result['rc']}" if "rc" in result else f"no answer in {TIMEOUT_S:.0f} s"
        raise DataError(f"the MQTT broker at {url.where} did not accept the connection ({why}); "
                        "check the credentials (EDGERNN_MQTT_USERNAME / EDGERNN_MQTT_PASSWORD) and TLS options")
    return client


def _tls(client: Any, options: LiveOptions) -> None:
    for name, path in (("--tls-ca", options.tls_ca), ("--tls-cert", options.tls_cert), ("--tls-key", options.tls_key)):
        if path is not None and not Path(path).is_file():
            raise DataError(f"{name} file {path!r} does not exist; pass the path of a PEM file")
    if options.tls_key and not options.tls_cert:
        raise UsageError("--tls-key needs --tls-cert (the client certificate it belongs to)")
    try:
        client.tls_set(ca_certs=options.tls_ca, certfile=options.tls_cert, keyfile=options.tls_key)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise DataError(f"TLS setup failed ({_why(e)}); check the --tls-ca/--tls-cert/--tls-key PEM files") from None


def _why(e: BaseException) -> str:
    return str(getattr(e, "strerror", None) or getattr(e, "reason", None) or e or type(e).__name__)


# ---- source -------------------------------------------------------------------------------------
class MqttSource:
    """Messages of one subscription as runner items; iterate from one thread, close from any."""

    def __init__(self, url: MqttUrl, fmt: str, options: LiveOptions):
        if options.key_level is not None and not options.key_field:
            raise UsageError("--mqtt-key-level needs --key FIELD: the name the topic's key gets in each record")
        self.url, self.fmt, self.options = url, fmt, options
        self.queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.closed = threading.Event()
        self.columns = _csv_columns(options) if fmt == "csv" else None
        self._subscribed, self._granted = threading.Event(), None
        self.connections = 0  # successful (re)connections to the broker
        client_id = options.client_id or default_client_id(url)
        self._unacked: deque = deque()  # (last item position, mid, qos) per message, in order
        self._ack_lock = threading.Lock()
        self.client = connect(url, options, client_id, clean_session=False, on_connected=self._subscribe,
                              on_message=self._on_message, manual_ack=True)
        if not self._subscribed.wait(TIMEOUT_S) or self._granted is None or self._granted.is_failure:
            self.close()
            raise DataError(f"the MQTT broker at {url.where} did not grant the subscription to {url.topic!r} "
                            f"({self._granted or 'no answer'}); check the topic filter and the broker's ACL")

    @property
    def reconnects(self) -> int:
        """Times the connection was lost and made again (paho retries with backoff)."""
        return max(0, self.connections - 1)

    def _subscribe(self, client: Any) -> None:
        """(Re)subscribe on every connection: a broker that lost the session gets it back."""
        self.connections += 1
        def on_subscribe(c, userdata, mid, reason_codes, properties) -> None:
            self._granted = reason_codes[0]
            self._subscribed.set()

        client.on_subscribe = on_subscribe
        client.subscribe(self.url.topic, qos=QOS)

    def _on_message(self, client, userdata, message) -> None:
        """Network thread: hand the message on, waiting (backpressure) while the queue is full."""
        while not self.closed.is_set():
            try:
                self.queue.put((message.topic, message.payload, message.mid, message.qos), timeout=0.2)
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
            topic, payload, mid, qos = msg
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
            while self._unacked and self._unacked[0][0] <= position:
                _, mid, qos = self._unacked.popleft()
                if qos > 0:
                    self.client.ack(mid, qos)

    def items(self, topic: str, payload: bytes) -> list[str | Mapping[str, Any]]:
        """One message as runner items: CSV rows, a JSON object with its key, or raw text."""
        key = self._topic_key(topic)
        if self.fmt == "csv":
            rows = split_lines(payload) or [""]
            return rows if self.options.key_level is None else [f"{row},{csv_cell(key or '')}" for row in rows]
        text = payload.decode("utf-8", errors="replace")
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
        """Stop the network loop, leave the session at the broker, end the iteration."""
        if self.closed.is_set():
            return
        self.closed.set()
        disconnect_cleanly(self.client)
        try:
            self.queue.put_nowait(_CLOSED)
        except queue.Full:
            pass


def disconnect_cleanly(client: Any, timeout_s: float = 5.0) -> None:
    """Disconnect once every queued packet (our PUBACKs above all) is on the wire.

    ``loop_stop()`` right after ``disconnect()`` can end the network thread with acks still
    queued; the broker then redelivers messages that were already processed (seen in tests)."""
    deadline = time.monotonic() + timeout_s
    while client.want_write() and time.monotonic() < deadline:
        time.sleep(0.01)
    gone = threading.Event()
    client.on_disconnect = lambda *args, **kwargs: gone.set()
    client.disconnect()
    gone.wait(max(0.0, deadline - time.monotonic()))
    client.loop_stop()


def _csv_columns(options: LiveOptions) -> list[str]:
    columns = [c.strip() for c in (options.csv_header or "").split(",")]
    if options.key_level is not None:
        if options.key_field in columns:
            raise UsageError(f"--csv-header already has the key column {options.key_field!r}; "
                             "drop it there or drop --mqtt-key-level")
        columns.append(options.key_field)  # type: ignore[arg-type]
    return columns


def _json_object(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_LINE:
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def open_mqtt_source(source: str, fmt: str, options: LiveOptions, stack: ExitStack) -> MqttSource:
    """Connect and subscribe now (errors surface before the stream starts); closed by ``stack``."""
    src = MqttSource(parse_url(source), fmt, options)
    stack.callback(src.close)
    return src


# ---- sink ---------------------------------------------------------------------------------------
class MqttSink:
    """Publishes each output as JSON to ``prefix/<key>`` (``prefix`` when unkeyed), QoS 1."""

    def __init__(self, url: MqttUrl, options: LiveOptions):
        self.prefix = url.topic.rstrip("/")
        if any(c in self.prefix for c in "+#"):
            raise UsageError(f"MQTT sink topic {self.prefix!r} has a wildcard; name a plain prefix like out/forecasts")
        self.url = url
        self.client = connect(url, options, client_id="", clean_session=True)
        self.pending: list[Any] = []

    def emit(self, obj: dict[str, Any]) -> None:
        key = obj.get("key")
        topic = self.prefix if key is None else f"{self.prefix}/{_topic_safe(str(key))}"
        self.pending.append(self.client.publish(topic, json.dumps(obj, default=str), qos=QOS))
        if len(self.pending) >= 1000:
            self.pending = [m for m in self.pending if not m.is_published()]

    def flush(self) -> None:
        """Wait until the broker has acknowledged every output (DataError after TIMEOUT_S)."""
        for info in self.pending:
            try:
                info.wait_for_publish(TIMEOUT_S)
            except (RuntimeError, ValueError):
                break
        left = sum(not m.is_published() for m in self.pending)
        self.pending = []
        if left:
            raise DataError(f"{left} output(s) were not acknowledged by the MQTT broker at {self.url.where} "
                            f"within {TIMEOUT_S:.0f} s; check the broker")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            disconnect_cleanly(self.client)


def _topic_safe(key: str) -> str:
    """A key as one topic level: wildcards and separators would change where it goes."""
    return "".join("_" if c in "+#/\x00" else c for c in key) or "_"


def open_mqtt_sink(spec: str, options: LiveOptions, stack: ExitStack) -> MqttSink:
    sink = MqttSink(parse_url(spec), options)
    stack.callback(sink.close)
    return sink
