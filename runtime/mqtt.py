"""MQTT in and out, with paho-mqtt (the ``feeds`` extra, imported only when used).

Source: ``mqtt://[user:pass@]host[:port]/topic/filter/#`` subscribes with QoS 1 in a persistent
session (clean session off, a stable client id), so messages published while edgernn is down
wait at the broker. Each message becomes one record: a JSON object (with the key taken from a
topic level injected under ``--key``), or CSV rows against ``--csv-header``. A payload that is
not a JSON object goes on as raw text, so the runner rejects it with a reason.

Sink: ``mqtt://host[:port]/prefix`` publishes each output as JSON to ``prefix/<key>`` (QoS 1).
It rides out a broker outage: paho reconnects with backoff and sends again every output the
broker has not confirmed; at most ``OUT_BUFFER`` outputs wait unconfirmed, then ``emit``
blocks (backpressure on the stream, so the source's queue or broker holds the input).

Both count their reconnections and say "connection lost" / "reconnected" through
``LiveOptions.notify``. Credentials come from the URL (userinfo up to the last ``@`` before the
host, percent-encoding accepted) or ``EDGERNN_MQTT_USERNAME`` / ``EDGERNN_MQTT_PASSWORD`` and
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
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import unquote

from edgernn.errors import DataError, UsageError
from edgernn.records import MAX_LINE
from edgernn.runner import Recent
from edgernn.source_urls import Item, LiveOptions, csv_cell, require, split_lines

QOS = 1
TIMEOUT_S = 10.0  # connecting, subscribing, and waiting for the last publishes at the end
QUEUE_SIZE = 10_000  # messages held between the network thread and the runner (backpressure)
OUT_BUFFER = 10_000  # sink outputs published but not yet confirmed by the broker, at most
RECONNECT_S = (0.5, 30.0)  # reconnect backoff: first wait, doubling up to the last
ACK_BARRIER_TOPIC = "edgernn/ack-barrier"  # unsubscribed at close, never subscribed: see confirm_sent
_CLOSED = None
_PUBLISH_OK = (0, 4)  # paho's MQTT_ERR_SUCCESS, MQTT_ERR_NO_CONN


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


def parse_url(url: str, sink: bool = False) -> MqttUrl:
    """Split an MQTT URL by hand: ``#`` is a topic wildcard here, not a URL fragment. The topic
    must be a valid subscription filter (source) or a plain topic prefix (sink)."""
    scheme, _, rest = url.partition("://")
    tls = scheme.lower() == "mqtts"
    userinfo, netloc, topic = _split(rest)
    user = password = None
    if userinfo:
        user, _, pw = userinfo.partition(":")
        user, password = unquote(user) or None, unquote(pw) if pw else None
    host, port = _host_port(netloc, 8883 if tls else 1883)
    if not topic:
        example = "out/forecasts" if sink else "sensors/+/data"
        raise UsageError(f"MQTT URL mqtt://{host}:{port}/ has no topic; e.g. mqtt://{host}:{port}/{example}")
    (check_prefix if sink else check_filter)(topic)
    return MqttUrl(host, port, topic, tls, user, password)


def _split(rest: str) -> tuple[str, str, str]:
    """(userinfo, host[:port], topic) of what follows ``scheme://``. A password may hold a '/':
    when the text before the first '/' has a ':' but is no host:port and an '@' follows, the
    userinfo runs to the last '@' before the host."""
    head = rest.split("/", 1)[0]
    if "@" not in head and "@" in rest and ":" in head and not head.startswith("[") \
            and not head.rpartition(":")[2].isdigit():
        end = rest.find("/", rest.index("@"))
        end = len(rest) if end < 0 else end
        at = rest.rindex("@", 0, end)
        return rest[:at], rest[at + 1:end], rest[end + 1:]
    netloc, _, topic = rest.partition("/")
    userinfo, _, netloc = netloc.rpartition("@")
    return userinfo, netloc, topic


def check_filter(topic: str) -> None:
    """UsageError unless ``topic`` is a valid MQTT subscription filter (MQTT 3.1.1, 4.7)."""
    levels = topic.split("/")
    if "#" in topic and (levels[-1] != "#" or topic.count("#") > 1):
        raise UsageError(f"MQTT topic filter {topic!r} is invalid: '#' must be the whole last level, e.g. sensors/#")
    if any("+" in level and level != "+" for level in levels):
        raise UsageError(f"MQTT topic filter {topic!r} is invalid: '+' must be a whole level, e.g. sensors/+/data")
    _check_text(topic, "topic filter")


def check_prefix(topic: str) -> None:
    """UsageError unless ``topic`` is a plain topic prefix for the sink (no wildcards)."""
    if "+" in topic or "#" in topic:
        raise UsageError(f"MQTT sink topic {topic!r} has a wildcard (+ or #); name a plain prefix like out/forecasts")
    _check_text(topic, "sink topic")


def _check_text(topic: str, what: str) -> None:
    if "\x00" in topic or len(topic.encode("utf-8", errors="replace")) > 65_535:
        raise UsageError(f"MQTT {what} {topic[:40]!r} is invalid: no NUL characters, at most 65535 bytes")


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
    if not port_text.isdigit():  # not echoed: it may be a mistyped password
        raise UsageError(f"MQTT port after {host!r} is not a number (1-65535); credentials go before the host: "
                         "mqtt://user:password@host:port/topic (percent-encoding accepted, e.g. %40 for @)")
    if not 0 < int(port_text) < 65536:
        raise UsageError(f"MQTT port {port_text[:20]!r} is not a port number (1-65535)")
    return host, int(port_text)


def default_client_id(url: MqttUrl) -> str:
    """A client id that is the same on every run with the same broker and topic filter, so a
    restarted stream resumes its persistent session (pass --client-id to choose one)."""
    digest = hashlib.sha256(f"{url.host}:{url.port}/{url.topic}".encode()).hexdigest()[:12]
    return f"edgernn-{digest}"


class Link:
    """One client's connection as its network thread sees it: counts (re)connections and says
    when it is lost and when it is back (``notify``, a line on stderr in ``edgernn stream``)."""

    def __init__(self, name: str, notify: Callable[[str], None] | None = None):
        self.name, self.notify = name, notify
        self.connections = 0  # successful connections, the first one included
        self.connected = False

    @property
    def reconnects(self) -> int:
        """Times the connection was lost and made again."""
        return max(0, self.connections - 1)

    def up(self) -> None:
        self.connections += 1
        self.connected = True
        if self.connections > 1:
            self._say("reconnected")

    def down(self, reason: Any) -> None:
        if self.connected:
            self.connected = False
            self._say(f"connection lost{_reason(reason)}, reconnecting")

    def _say(self, text: str) -> None:
        if self.notify is not None:
            self.notify(f"{self.name}: {text}")


def connect(url: MqttUrl, options: LiveOptions, client_id: str, clean_session: bool, link: Link,
            on_connected=None, on_message=None, manual_ack: bool = False) -> Any:
    """A connected paho client with its network loop running (it reconnects by itself, with
    backoff); DataError when the broker cannot be reached or refuses. ``on_connected(client)``
    runs after every (re)connection; ``on_message`` is set before connecting (a resumed
    session delivers right after CONNACK)."""
    client = _client(url, options, client_id, clean_session, manual_ack)
    answered, result = threading.Event(), {}

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            result.setdefault("refused", reason_code)
        else:
            link.up()
            if on_connected is not None:
                on_connected(c)
        answered.set()

    def on_disconnect(c, userdata, flags, reason_code, properties) -> None:
        if answered.is_set():
            link.down(reason_code)
        else:
            result.setdefault("closed", reason_code)
            answered.set()

    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    try:
        client.connect(url.host, url.port, keepalive=60)
    except (OSError, ssl.SSLError) as e:
        raise DataError(f"cannot reach the MQTT broker at {url.where} ({_why(e)}); "
                        "check the host, the port and that the broker runs") from None
    client.loop_start()
    if not answered.wait(TIMEOUT_S) or not link.connected:
        client.loop_stop()
        raise DataError(_no_session(url, result))
    return client


def _client(url: MqttUrl, options: LiveOptions, client_id: str, clean_session: bool, manual_ack: bool) -> Any:
    """A paho client with credentials, TLS and reconnect backoff set, not connected yet."""
    mqtt = require("paho.mqtt.client", "paho-mqtt")
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, manual_ack=manual_ack)
    client.reconnect_delay_set(*RECONNECT_S)
    username = url.username or os.environ.get("EDGERNN_MQTT_USERNAME")
    password = url.password or os.environ.get("EDGERNN_MQTT_PASSWORD")
    if username:
        client.username_pw_set(username, password)
    if url.tls or options.tls_ca or options.tls_cert or options.tls_key:
        _tls(client, options)
    return client


def _no_session(url: MqttUrl, result: dict) -> str:
    """Why a reachable host gave no MQTT session: refused (credentials), closed, or silent."""
    if "refused" in result:
        return (f"the MQTT broker at {url.where} refused the connection ({result['refused']}); "
                "check the credentials (EDGERNN_MQTT_USERNAME / EDGERNN_MQTT_PASSWORD) and the broker's ACL")
    if "closed" in result:
        return (f"{url.where} closed the connection before answering as an MQTT broker{_reason(result['closed'])}; "
                "check the port, TLS (mqtts://, --tls-ca) and the client certificate (--tls-cert/--tls-key)")
    return (f"no MQTT answer from {url.where} within {TIMEOUT_S:g} s; check that it is an MQTT broker's port "
            "(for TLS use mqtts:// or --tls-ca)")


def _reason(code: Any) -> str:
    """`` (reason)`` for a paho reason code, or nothing when it says nothing."""
    text = str(code)
    return "" if text in ("Unspecified error", "Success", "Normal disconnection") else f" ({text})"


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
    """Messages of one subscription as runner items; iterate from one thread, close from any.

    A message the broker sends again (MQTT DUP flag, e.g. after a reconnection) whose topic and
    payload match one of the last ``RECENT`` messages is acknowledged and skipped, counted in
    ``duplicates``: feeds without timestamps get no double outputs from redeliveries."""

    RECENT = 10_000

    def __init__(self, url: MqttUrl, fmt: str, options: LiveOptions):
        if options.key_level is not None and not options.key_field:
            raise UsageError("--mqtt-key-level needs --key FIELD: the name the topic's key gets in each record")
        self.url, self.fmt, self.options = url, fmt, options
        self.queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.closed = threading.Event()
        self.columns = _csv_columns(options) if fmt == "csv" else None
        self._subscribed, self._granted = threading.Event(), None
        self.link = Link(f"MQTT source {url.where}", options.notify)
        self.duplicates = 0  # redelivered messages skipped
        self._seen = Recent(self.RECENT)  # digests of the latest messages
        client_id = options.client_id or default_client_id(url)
        self._unacked: deque = deque()  # (last item position, mid, qos) per message, in order
        self._ack_lock = threading.Lock()
        self._done_upto = 0
        self.client = connect(url, options, client_id, clean_session=False, link=self.link,
                              on_connected=self._subscribe, on_message=self._on_message, manual_ack=True)
        if not self._subscribed.wait(TIMEOUT_S) or self._granted is None or self._granted.is_failure:
            self.close()
            raise DataError(f"the MQTT broker at {url.where} did not grant the subscription to {url.topic!r} "
                            f"({self._granted or 'no answer'}); check the topic filter and the broker's ACL")

    @property
    def reconnects(self) -> int:
        """Times the connection was lost and made again (paho retries with backoff)."""
        return self.link.reconnects

    def _subscribe(self, client: Any) -> None:
        """(Re)subscribe on every connection: a broker that lost the session gets it back."""
        def on_subscribe(c, userdata, mid, reason_codes, properties) -> None:
            self._granted = reason_codes[0]
            self._subscribed.set()

        client.on_subscribe = on_subscribe
        client.subscribe(self.url.topic, qos=QOS)

    def _on_message(self, client, userdata, message) -> None:
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
        """Stop the network loop, leave the session at the broker, end the iteration. The acks
        sent so far are confirmed first (``confirm_sent``): a run started right after this one
        with the same client id takes the session over, and the broker drops whatever the old
        connection still had in flight, so unconfirmed acks would mean messages sent twice."""
        if self.closed.is_set():
            return
        self.closed.set()
        confirm_sent(self.client)
        disconnect_cleanly(self.client)
        try:
            self.queue.put_nowait(_CLOSED)
        except queue.Full:
            pass


def confirm_sent(client: Any, timeout_s: float = TIMEOUT_S) -> bool:
    """Wait until the broker has read every packet sent so far (our PUBACKs): False when it
    could not be confirmed (not connected, or no answer in ``timeout_s``).

    MQTT 3.1.1 does not answer a PUBACK, so a round trip stands in for it: an UNSUBSCRIBE of a
    topic this client never subscribed to, which the broker answers (UNSUBACK) after the
    packets before it. Writing the acks to the socket is not enough: a new connection with the
    same client id can reach the broker first and take the session over, and the broker then
    closes the old connection without reading its last acks (seen under load in CI)."""
    if not client.is_connected():
        return False
    answered = threading.Event()
    client.on_unsubscribe = lambda *args, **kwargs: answered.set()  # the only UNSUBSCRIBE we send
    rc, _ = client.unsubscribe(ACK_BARRIER_TOPIC)
    return rc == 0 and answered.wait(timeout_s)


def disconnect_cleanly(client: Any, timeout_s: float = 5.0) -> None:
    """Disconnect once every queued packet (our PUBACKs above all) is on the wire.

    ``loop_stop()`` right after ``disconnect()`` can end the network thread with acks still
    queued; the broker then redelivers messages that were already processed (seen in tests)."""
    deadline = time.monotonic() + timeout_s
    connected = client.is_connected()  # else nothing can reach the wire: do not wait for it
    while connected and client.want_write() and time.monotonic() < deadline:
        time.sleep(0.01)
    gone = threading.Event()
    client.on_disconnect = lambda *args, **kwargs: gone.set()
    client.disconnect()
    if connected:
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
    """Publishes each output as JSON to ``prefix/<key>`` (``prefix`` when unkeyed), QoS 1.

    paho keeps every output until the broker confirms it (PUBACK) and sends it again after a
    reconnection, so an outage delays outputs but loses none. A broker session is not needed
    for that (the sink publishes only), so the client id is the broker's choice."""

    def __init__(self, url: MqttUrl, options: LiveOptions, buffer: int = OUT_BUFFER):
        self.prefix, self.url, self.buffer, self.stop = url.topic.rstrip("/"), url, buffer, options.stop
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

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._confirmed += 1
            self._cond.notify_all()

    def emit(self, obj: dict[str, Any]) -> None:
        """Publish one output; while ``buffer`` outputs wait for the broker, wait for room."""
        key = obj.get("key")
        topic = self.prefix if key is None else f"{self.prefix}/{_topic_safe(str(key))}"
        with self._cond:
            while self.waiting >= self.buffer and not (self.stop is not None and self.stop.is_set()):
                self._cond.wait(0.2)
            self._sent += 1
        info = self.client.publish(topic, json.dumps(obj, default=str), qos=QOS)
        if info.rc not in _PUBLISH_OK:  # NO_CONN: paho keeps it and sends it after reconnecting
            raise DataError(f"publishing to {topic!r} at {self.url.where} failed (paho error {info.rc}); check the broker")

    def flush(self) -> bool:
        """Wait (at most TIMEOUT_S) until the broker has confirmed every output: True when it
        has. While the broker is unreachable it does not wait and says False, so a checkpoint
        waits for a later chance instead of saving state ahead of what was delivered."""
        ok = self._wait(TIMEOUT_S, connected_only=True)
        if not ok and not self._noted and self.link.notify is not None:
            self._noted = True
            self.link.notify(f"{self.link.name}: {self.waiting} output(s) wait for the broker; "
                             "checkpoints are postponed until it has them")
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
