"""``udp://HOST:PORT``: bind there and read datagrams, each holding one or more lines of CSV
or JSON. UDP may drop, repeat or reorder datagrams; records with timestamps make that visible
(a repeated record is skipped as a duplicate, an older one is rejected)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

from edgernn.errors import DataError, UsageError
from edgernn.feeds.options import Item, split_lines

MAX_DATAGRAM = 65_535


def parse_udp_url(url: str) -> tuple[str, int]:
    """The host and port to bind of a ``udp://`` URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or port == 0:
        raise UsageError("UDP source needs a host and port to listen on; e.g. udp://0.0.0.0:5005")
    return parts.hostname, port


def open_udp_source(url: str, stack: ExitStack) -> Iterator[Item]:
    """Bind now (errors surface before the stream starts); lines as ``(n, text)``."""
    host, port = parse_udp_url(url)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise DataError(
            f"cannot listen on UDP {host}:{port} ({e.strerror}); pick a free port "
            "and an address of this machine"
        ) from None
    stack.callback(sock.close)
    return _lines(sock)


def _lines(sock: socket.socket) -> Iterator[Item]:
    n = 0
    while True:
        try:
            data = sock.recv(MAX_DATAGRAM)
        except OSError:  # closed at the end of the stream
            return
        for line in split_lines(data):
            n += 1
            yield n, line
