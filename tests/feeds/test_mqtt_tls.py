"""MQTT over TLS against a mosquitto of the test's own, with a throwaway CA made by openssl: our
CA streams, a wrong one is refused, a required client certificate is sent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_checks import one_clear_line
from mqtt_clients import by_key, file_fed, mqtt, out_lines, records, run


def make_certs(work: Path) -> None:
    """A throwaway CA (ca.pem), a server certificate for 127.0.0.1 and a client certificate it
    signed (server.*, client.*), and a CA of no one's (other.pem), made with openssl in ``work``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need openssl (Debian package openssl)", pytrace=False)

    def sh(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=work, check=True, capture_output=True)

    def files(name: str, out: str) -> tuple[str, ...]:
        return ("-keyout", f"{name}.key", "-out", f"{name}.{out}")

    def signed(name: str, cn: str, ext: str = "") -> None:
        sh("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", *files(name, "csr"))
        extra = ["-extfile", f"{name}.cnf"] if ext else []
        if ext:
            (work / f"{name}.cnf").write_text(ext)
        ca = ("-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial")
        sh("x509", "-req", "-in", f"{name}.csr", *ca, "-days", "1", *extra, "-out", f"{name}.pem")

    for ca, cn in (("ca", "edgernn-test-ca"), ("other", "other-ca")):
        new_key = ("-newkey", "rsa:2048", "-nodes", "-days", "1")
        sh("req", "-x509", *new_key, "-subj", f"/CN={cn}", *files(ca, "pem"))
    signed("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n")
    signed("client", "edgernn-client")


def tls_broker(work: Path, port: int, require_certificate: bool = False) -> subprocess.Popen:
    """mosquitto with a TLS listener using ``make_certs``' server certificate."""
    from brokers import start_mosquitto

    return start_mosquitto(
        work,
        port,
        f"allow_anonymous true\ncafile {work}/ca.pem\ncertfile {work}/server.pem\n"
        f"keyfile {work}/server.key\nrequire_certificate {str(require_certificate).lower()}\n",
    )


def test_tls_broker_with_our_ca_streams_and_a_wrong_ca_is_refused(tmp_path):
    """A real TLS listener (a throwaway CA and server certificate made with openssl)."""
    from brokers import free_port, stop_mosquitto

    make_certs(tmp_path)
    port = free_port()
    broker = tls_broker(tmp_path, port)
    try:
        src = f"mqtts://127.0.0.1:{port}/tls/+/data"
        opts = [
            "--client-id",
            "tls-1",
            "--mqtt-key-level",
            "1",
            "--key",
            "sensor",
            "--tls-ca",
            str(tmp_path / "ca.pem"),
        ]
        assert run("stream", "--source", src, *opts, "--limit", "0", "--quiet").exit_code == 0
        recs = records()[:9]
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        c.tls_set(ca_certs=str(tmp_path / "ca.pem"))
        c.connect("127.0.0.1", port)
        c.loop_start()
        for k, rec in recs:
            info = c.publish(f"tls/{k}/data", json.dumps(rec), qos=1)
            info.wait_for_publish(timeout=60)
            assert info.is_published()  # else the --limit run below would wait for it for ever
        c.disconnect()
        c.loop_stop()
        r = run("stream", "--source", src, *opts, "--limit", str(len(recs)), "--quiet")
        assert r.exit_code == 0, r.output
        assert by_key(out_lines(r.stdout)) == file_fed(tmp_path, recs)
        wrong = run(
            "stream",
            "--source",
            src,
            "--client-id",
            "tls-2",
            "--tls-ca",
            str(tmp_path / "other.pem"),
            "--limit",
            "0",
        )
        one_clear_line(wrong, 5, "MQTT broker")
    finally:
        stop_mosquitto(broker)


def test_tls_client_certificate_is_sent_and_required(tmp_path):
    """A listener with require_certificate: --tls-cert/--tls-key get in (source and sink), no
    certificate is one clear line."""
    from brokers import free_port, stop_mosquitto

    make_certs(tmp_path)
    port = free_port()
    broker = tls_broker(tmp_path, port, require_certificate=True)
    ca = ["--tls-ca", str(tmp_path / "ca.pem")]
    cert = ["--tls-cert", str(tmp_path / "client.pem"), "--tls-key", str(tmp_path / "client.key")]
    try:
        src = f"mqtts://127.0.0.1:{port}/cert/#"
        assert run("stream", "--source", src, *ca, *cert, "--limit", "0", "--quiet").exit_code == 0
        r = run(
            "stream",
            "--source",
            "demo",
            "--limit",
            "3",
            "--sink",
            f"mqtts://127.0.0.1:{port}/out",
            *ca,
            *cert,
        )
        assert r.exit_code == 0 and "3 steps" in r.stderr, r.output
        one_clear_line(
            run("stream", "--source", src, *ca, "--limit", "0"),
            5,
            f"127.0.0.1:{port}",
            "--tls-cert",
        )
    finally:
        stop_mosquitto(broker)
