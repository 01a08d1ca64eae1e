"""MQTT URLs, topic filters and connection failures: one clear line, the right exit code, and
never a password (quick: no broker, or a refusing one, or a socket that is no broker)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading

import pytest
from cli_checks import one_clear_line
from click.testing import CliRunner

from edgernn.cli import main
from edgernn.errors import UsageError
from edgernn.feeds.mqtt import check_filter, parse_url
from edgernn.feeds.options import redact

pytest.importorskip("paho.mqtt.client")


def run(*args: str):
    return CliRunner().invoke(main, ["stream", *args])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_password_may_hold_a_slash_or_be_percent_encoded():
    u = parse_url("mqtt://edge:Pa55/word@127.0.0.1:1884/t/#")
    assert (u.username, u.password, u.host, u.port, u.topic) == (
        "edge",
        "Pa55/word",
        "127.0.0.1",
        1884,
        "t/#",
    )
    u = parse_url("mqtts://edge:p%40ss%2Fw@broker/sensors/+/data")
    assert (u.password, u.host, u.port, u.topic, u.tls) == (
        "p@ss/w",
        "broker",
        8883,
        "sensors/+/data",
        True,
    )
    # an @ in the topic is not userinfo
    assert parse_url("mqtt://h/alerts/@home").topic == "alerts/@home"


@pytest.mark.parametrize(
    "spec, shown",
    [
        ("mqtt://edge:Pa55/word@127.0.0.1:1883/t/#", "mqtt://edge:***@127.0.0.1:1883/t/#"),
        ("mqtt:/edge:Secret99@127.0.0.1/t", "mqtt:/edge:***@127.0.0.1/t"),
        ("edge:Secret99@host/x", "edge:***@host/x"),
        ("mqtt://127.0.0.1:1883/t", "mqtt://127.0.0.1:1883/t"),
    ],
)
def test_redact_hides_the_password_only(spec, shown):
    assert redact(spec) == shown


@pytest.mark.parametrize("topic", ["#", "a/#", "+", "a/+/b", "+/+/#", "a//b", "a b/c"])
def test_valid_topic_filters(topic):
    check_filter(topic)


@pytest.mark.parametrize(
    "topic, rule",
    [("x/#/y", "'#'"), ("x#", "'#'"), ("a/#/#", "'#'"), ("a+/b", "'+'"), ("a/+b", "'+'")],
)
def test_invalid_topic_filters_name_the_rule(topic, rule):
    with pytest.raises(UsageError, match=re.escape(f"{rule} must be")):
        check_filter(topic)


def test_an_invalid_topic_filter_is_one_line_at_once():
    one_clear_line(
        run("--source", "mqtt://127.0.0.1:1/x/#/y"),
        2,
        "'x/#/y'",
        "'#' must be the whole last level",
    )
    one_clear_line(
        run("--source", "demo", "--sink", "mqtt://127.0.0.1:1/out/+/x"), 2, "'out/+/x'", "wildcard"
    )


@pytest.mark.parametrize(
    "args, code, words",
    [
        (
            ("--source", "mqtt://edge:Pa55/word@127.0.0.1:{closed}/t/#"),
            5,
            ("cannot reach", "127.0.0.1:{closed}"),
        ),
        (("--source", "mqtt://edge:Pa55word/t/#"), 2, ("not a number", "user:password@host")),
        (("--source", "mqtt:/edge:Pa55word@127.0.0.1/t/#"), 2, ("mqtt:/edge:***@", "misses '//'")),
        (
            ("--source", "demo", "--sink", "mqtt:/edge:Pa55word@127.0.0.1/out"),
            2,
            ("edge:***@", "mqtt://host:1883/out"),
        ),
        (("--source", "edge:Pa55word@127.0.0.1/t"), 5, ("edge:***@", "not a file")),
        (
            ("--source", "demo", "--sink", "/no/such/edge:Pa55word@h/out"),
            5,
            ("edge:***@", "cannot use"),
        ),
    ],
)
def test_passwords_never_appear_in_errors(args, code, words):
    closed = closed_port()
    r = run(*(a.format(closed=closed) for a in args))
    one_clear_line(r, code, *(w.format(closed=closed) for w in words))
    assert "Pa55" not in r.output


def test_unknown_or_mistyped_schemes_are_refused_not_taken_for_files(tmp_path):
    one_clear_line(
        run("--source", "mqtp://x/t"),
        2,
        "unknown scheme 'mqtp'; use mqtt://",
        "serial://",
        "a file path or -",
    )
    one_clear_line(
        run("--source", "demo", "--sink", "mqtt:broker.local:1883"),
        2,
        "misses '//'",
        "mqtt://host:1883/out",
    )
    one_clear_line(
        run("--source", "demo", "--sink", "udp://0.0.0.0:5005"), 2, "--sink cannot be a udp:// URL"
    )
    assert not list(tmp_path.iterdir())
    odd = tmp_path / "out:1.jsonl"  # a name with a colon is still a file
    assert run("--source", "demo", "--limit", "2", "--sink", str(odd), "--quiet").exit_code == 0
    assert len(odd.read_text().splitlines()) == 2


def serve(on_accept) -> int:
    """A TCP listener on 127.0.0.1 that is no MQTT broker: ``on_accept(conn)`` for each client."""
    server = socket.create_server(("127.0.0.1", 0))

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            on_accept(conn)

    threading.Thread(target=loop, daemon=True).start()
    return server.getsockname()[1]


def test_a_port_that_closes_or_stays_silent_is_not_called_a_credentials_problem(monkeypatch):
    port = serve(lambda conn: conn.close())
    r = run("--source", f"mqtt://127.0.0.1:{port}/t/#")
    one_clear_line(r, 5, f"127.0.0.1:{port} closed the connection before answering")
    assert "credentials" not in r.stderr
    held: list = []
    port = serve(held.append)
    monkeypatch.setattr("edgernn.feeds.mqtt.TIMEOUT_S", 0.5)
    r = run("--source", f"mqtt://127.0.0.1:{port}/t/#")
    one_clear_line(r, 5, f"no MQTT answer from 127.0.0.1:{port} within 0.5 s")
    assert "credentials" not in r.stderr


def test_a_refused_connection_points_at_the_credentials(tmp_path):
    from brokers import free_port, start_mosquitto, stop_mosquitto

    port = free_port()
    broker = start_mosquitto(tmp_path, port, "allow_anonymous false\n")
    try:
        r = run("--source", f"mqtt://edge:Pa55word@127.0.0.1:{port}/t/#")
        one_clear_line(r, 5, "refused the connection (Not authorized)", "credentials")
        assert "Pa55" not in r.output
    finally:
        stop_mosquitto(broker)


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 0, "stopped (SIGTERM)")],
)
def test_a_signal_while_connecting_is_one_word_not_a_traceback(sig, code, said):
    asked, held = threading.Event(), []

    def read_connect(
        conn: socket.socket,
    ) -> None:  # takes the connection and the CONNECT, never answers
        held.append(conn)
        conn.settimeout(60)
        if conn.recv(1) == b"\x10":  # an MQTT CONNECT: the client now waits for the broker's answer
            asked.set()

    port = serve(read_connect)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgernn", "stream", "--source", f"mqtt://127.0.0.1:{port}/t/#"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert asked.wait(60), "the stream did not send its CONNECT"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, err) == (code, f"{said}\n")
