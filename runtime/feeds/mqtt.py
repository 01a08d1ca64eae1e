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
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from edgernn.errors import DataError, UsageError
from edgernn.feeds.options import LiveOptions, require, why

QOS = 1
TIMEOUT_S = 10.0  # connecting, subscribing, and waiting for the last publishes at the end
QUEUE_SIZE = 10_000  # messages held between the network thread and the runner (backpressure)
OUT_BUFFER = 10_000  # sink outputs published but not yet confirmed by the broker, at most
RECONNECT_S = (0.5, 30.0)  # reconnect backoff: first wait, doubling up to the last
# unsubscribed at close, never subscribed: see confirm_sent
ACK_BARRIER_TOPIC = "edgernn/ack-barrier"


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
        raise UsageError(
            f"MQTT URL mqtt://{host}:{port}/ has no topic; e.g. mqtt://{host}:{port}/{example}"
        )
    (check_prefix if sink else check_filter)(topic)
    return MqttUrl(host, port, topic, tls, user, password)


def _split(rest: str) -> tuple[str, str, str]:
    """(userinfo, host[:port], topic) of what follows ``scheme://``. A password may hold a '/':
    when the text before the first '/' has a ':' but is no host:port and an '@' follows, the
    userinfo runs to the last '@' before the host."""
    head = rest.split("/", 1)[0]
    if (
        "@" not in head
        and "@" in rest
        and ":" in head
        and not head.startswith("[")
        and not head.rpartition(":")[2].isdigit()
    ):
        end = rest.find("/", rest.index("@"))
        end = len(rest) if end < 0 else end
        at = rest.rindex("@", 0, end)
        return rest[:at], rest[at + 1 : end], rest[end + 1 :]
    netloc, _, topic = rest.partition("/")
    userinfo, _, netloc = netloc.rpartition("@")
    return userinfo, netloc, topic


def check_filter(topic: str) -> None:
    """UsageError unless ``topic`` is a valid MQTT subscription filter (MQTT 3.1.1, 4.7)."""
    levels = topic.split("/")
    if "#" in topic and (levels[-1] != "#" or topic.count("#") > 1):
        raise UsageError(
            f"MQTT topic filter {topic!r} is invalid: '#' must be the whole last level, "
            "e.g. sensors/#"
        )
    if any("+" in level and level != "+" for level in levels):
        raise UsageError(
            f"MQTT topic filter {topic!r} is invalid: '+' must be a whole level, "
            "e.g. sensors/+/data"
        )
    _check_text(topic, "topic filter")


def check_prefix(topic: str) -> None:
    """UsageError unless ``topic`` is a plain topic prefix for the sink (no wildcards)."""
    if "+" in topic or "#" in topic:
        raise UsageError(
            f"MQTT sink topic {topic!r} has a wildcard (+ or #); "
            "name a plain prefix like out/forecasts"
        )
    _check_text(topic, "sink topic")


def _check_text(topic: str, what: str) -> None:
    if "\x00" in topic or len(topic.encode("utf-8", errors="replace")) > 65_535:
        raise UsageError(
            f"MQTT {what} {topic[:40]!r} is invalid: no NUL characters, at most 65535 bytes"
        )


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
        raise UsageError(
            f"MQTT port after {host!r} is not a number (1-65535); credentials go before the host: "
            "mqtt://user:password@host:port/topic (percent-encoding accepted, e.g. %40 for @)"
        )
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


def connect(
    url: MqttUrl,
    options: LiveOptions,
    client_id: str,
    clean_session: bool,
    link: Link,
    on_connected: Callable[[Any], None] | None = None,
    on_message: Callable[[Any, Any, Any], None] | None = None,
    manual_ack: bool = False,
) -> Any:
    """A connected paho client with its network loop running (it reconnects by itself, with
    backoff); DataError when the broker cannot be reached or refuses. ``on_connected(client)``
    runs after every (re)connection; ``on_message`` is set before connecting (a resumed
    session delivers right after CONNACK)."""
    client = _client(url, options, client_id, clean_session, manual_ack)
    answered = threading.Event()
    result: dict[str, Any] = {}  # "refused" or "closed": the reason code of a failed first try

    def on_connect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            result.setdefault("refused", reason_code)
        else:
            link.up()
            if on_connected is not None:
                on_connected(c)
        answered.set()

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if answered.is_set():
            link.down(reason_code)
        else:
            result.setdefault("closed", reason_code)
            answered.set()

    client.on_connect, client.on_disconnect, client.on_message = (
        on_connect,
        on_disconnect,
        on_message,
    )
    try:
        client.connect(url.host, url.port, keepalive=60)
    except (OSError, ssl.SSLError) as e:
        raise DataError(
            f"cannot reach the MQTT broker at {url.where} ({why(e)}); "
            "check the host, the port and that the broker runs"
        ) from None
    client.loop_start()
    if not answered.wait(TIMEOUT_S) or not link.connected:
        client.loop_stop()
        raise DataError(_no_session(url, result))
    return client


def _client(
    url: MqttUrl, options: LiveOptions, client_id: str, clean_session: bool, manual_ack: bool
) -> Any:
    """A paho client with credentials, TLS and reconnect backoff set, not connected yet."""
    mqtt = require("paho.mqtt.client", "paho-mqtt")
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        manual_ack=manual_ack,
    )
    client.reconnect_delay_set(*RECONNECT_S)
    username = url.username or os.environ.get("EDGERNN_MQTT_USERNAME")
    password = url.password or os.environ.get("EDGERNN_MQTT_PASSWORD")
    if username:
        client.username_pw_set(username, password)
    if url.tls or options.tls_ca or options.tls_cert or options.tls_key:
        _tls(client, options)
    return client


def _no_session(url: MqttUrl, result: dict[str, Any]) -> str:
    """Why a reachable host gave no MQTT session: refused (credentials), closed, or silent."""
    if "refused" in result:
        return (
            f"the MQTT broker at {url.where} refused the connection ({result['refused']}); "
            "check the credentials (EDGERNN_MQTT_USERNAME / EDGERNN_MQTT_PASSWORD) "
            "and the broker's ACL"
        )
    if "closed" in result:
        return (
            f"{url.where} closed the connection before answering as an MQTT broker"
            f"{_reason(result['closed'])}; check the port, TLS (mqtts://, --tls-ca) "
            "and the client certificate (--tls-cert/--tls-key)"
        )
    return (
        f"no MQTT answer from {url.where} within {TIMEOUT_S:g} s; "
        "check that it is an MQTT broker's port (for TLS use mqtts:// or --tls-ca)"
    )


def _reason(code: Any) -> str:
    """`` (reason)`` for a paho reason code, or nothing when it says nothing."""
    text = str(code)
    return "" if text in ("Unspecified error", "Success", "Normal disconnection") else f" ({text})"


def _tls(client: Any, options: LiveOptions) -> None:
    for name, path in (
        ("--tls-ca", options.tls_ca),
        ("--tls-cert", options.tls_cert),
        ("--tls-key", options.tls_key),
    ):
        if path is not None and not Path(path).is_file():
            raise DataError(f"{name} file {path!r} does not exist; pass the path of a PEM file")
    if options.tls_key and not options.tls_cert:
        raise UsageError("--tls-key needs --tls-cert (the client certificate it belongs to)")
    try:
        client.tls_set(ca_certs=options.tls_ca, certfile=options.tls_cert, keyfile=options.tls_key)
    except (OSError, ssl.SSLError, ValueError) as e:
        raise DataError(
            f"TLS setup failed ({why(e)}); check the --tls-ca/--tls-cert/--tls-key PEM files"
        ) from None


def barrier_topic(subscribed: str) -> str:
    """The topic ``confirm_sent`` unsubscribes: never the client's own subscription.

    >>> barrier_topic("sensors/#"), barrier_topic("edgernn/ack-barrier")
    ('edgernn/ack-barrier', 'edgernn/ack-barrier/confirm')
    """
    return ACK_BARRIER_TOPIC if subscribed != ACK_BARRIER_TOPIC else f"{ACK_BARRIER_TOPIC}/confirm"


def confirm_sent(client: Any, subscribed: str, timeout_s: float = TIMEOUT_S) -> bool:
    """Wait until the broker has read every packet sent so far (our PUBACKs): False when it
    could not be confirmed (not connected, or no answer in ``timeout_s``). ``subscribed`` is
    the client's own topic filter, which the barrier must not touch.

    MQTT 3.1.1 does not answer a PUBACK, so a round trip stands in for it: an UNSUBSCRIBE of a
    topic this client never subscribed to, which the broker answers (UNSUBACK) after the
    packets before it. Writing the acks to the socket is not enough: a new connection with the
    same client id can reach the broker first and take the session over, and the broker then
    closes the old connection without reading its last acks (seen under load in CI)."""
    if not client.is_connected():
        return False
    answered = threading.Event()
    client.on_unsubscribe = lambda *args, **kwargs: answered.set()  # the only UNSUBSCRIBE we send
    rc, _ = client.unsubscribe(barrier_topic(subscribed))
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
