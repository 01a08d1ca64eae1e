"""What live sources and sinks share: options, URL checks and redaction, line helpers.

Live sources are named by URL: ``mqtt://``, ``mqtts://``, ``serial://`` and ``udp://``.

``edgernn.feeds.live.open_items`` opens one; this module holds what the sources and sinks
share. Live feeds never sniff their format: they
are JSON unless ``--format csv`` or ``--csv-header`` says CSV (a partial first line read from a
device must not decide the format of the whole stream).

Every message that shows a URL shows it through ``redact`` (``mqtt://edge:***@host/t``), and
``check_spec`` refuses what looks like a mistyped URL before it could be taken for a file name.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from edgernn.errors import UsageError

Item = tuple[int, "str | Mapping[str, Any]"]
SCHEMES = ("mqtt://", "mqtts://", "serial://", "udp://")
FEEDS_HINT = "pip install 'edgernn[feeds]'"
EXAMPLES = {
    "mqtt": "mqtt://host:1883/sensors/#",
    "mqtts": "mqtts://host:8883/sensors/#",
    "serial": "serial:///dev/ttyUSB0?baud=115200",
    "udp": "udp://0.0.0.0:5005",
}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # two letters at least: C:\data is a path
# user:password@ (to the last @: over-redacting is safe)
_USERINFO = re.compile(r"([^\s/@:]*):\S*@")


@dataclass(frozen=True)
class LiveOptions:
    """What ``edgernn stream`` passes to live sources and sinks."""

    key_field: str | None = None  # the record field naming the series (--key)
    key_level: int | None = None  # MQTT: take the key from this topic level (0-based)
    client_id: str | None = None  # MQTT: stable client id of the persistent session
    csv_header: str | None = None  # CSV payloads: their column names, comma-separated
    tls_ca: str | None = None  # MQTT TLS: CA bundle, client certificate, client key
    tls_cert: str | None = None
    tls_key: str | None = None
    notify: Callable[[str], None] | None = None  # told "connection lost" / "reconnected" (stderr)
    stop: threading.Event | None = None  # set when the stream is stopping: stop waiting for room


def is_live(source: str | None) -> bool:
    """Is ``source`` a URL one of the live sources understands?"""
    return source is not None and source.lower().startswith(SCHEMES)


def redact(spec: str) -> str:
    """``spec`` (a URL or path) with any password as ``***``, safe to print.

    >>> redact("mqtt://edge:Pa55/word@127.0.0.1:1883/t/#")
    'mqtt://edge:***@127.0.0.1:1883/t/#'
    >>> redact("mqtt:/edge:S3cret@h/t"), redact("out.jsonl")
    ('mqtt:/edge:***@h/t', 'out.jsonl')
    """
    head = re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/+", spec)  # scheme:/ or scheme://
    start = head.end() if head else 0
    return spec[:start] + _USERINFO.sub(r"\1:***@", spec[start:], count=1)


def check_spec(spec: str, what: str, examples: Mapping[str, str]) -> None:
    """UsageError for ``spec`` (a --source or --sink) that names a scheme not in ``examples`` or
    misses the ``//`` of one, so a mistyped URL never becomes a file name. A file that exists
    under that name is still a file."""
    m = _SCHEME.match(spec)
    if m is None or Path(spec).exists():
        return
    scheme, slashes = m.group(1).lower(), spec[m.end() :].startswith("//")
    uses = f"use {', '.join(f'{s}://' for s in examples)}, a file path or -"
    if scheme in examples and not slashes:
        raise UsageError(
            f"{what} {redact(spec)!r} misses '//' after '{scheme}:'; write it as {examples[scheme]}"
        )
    if slashes and scheme not in examples:
        known = scheme in EXAMPLES  # a source scheme given as a sink
        raise UsageError(
            f"{what} cannot be a {scheme}:// URL; {uses}"
            if known
            else f"unknown scheme {scheme!r}; {uses}"
        )


def live_format(fmt: str, csv_header: str | None, header_in_feed: bool) -> str:
    """ "csv" or "jsonl" for a live feed; UsageError when CSV has no way to get its header."""
    if csv_header is not None:
        if fmt == "jsonl":
            raise UsageError("--csv-header is for CSV payloads; drop it or use --format csv")
        return "csv"
    if fmt == "csv" and not header_in_feed:
        raise UsageError(
            "CSV payloads need their column names: pass --csv-header temp,humidity,... "
            "(or send JSON)"
        )
    return "csv" if fmt == "csv" else "jsonl"


def with_header(lines: Iterable[Item], header: str | None) -> Iterator[Item]:
    """The CSV header (position 0) first when one was given, then the feed's lines."""
    if header is not None:
        yield 0, header
    yield from lines


def split_lines(data: bytes) -> list[str]:
    """Non-blank text lines of a payload or datagram (UTF-8; bad bytes become lone surrogates,
    as files read them)."""
    text = data.decode("utf-8", errors="surrogateescape")
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def csv_cell(value: str) -> str:
    """``value`` as one CSV cell, quoted when it must be."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def why(e: BaseException) -> str:
    """An exception as the few words a one-line message quotes: the OS's reason (strerror), an
    SSL error's reason, else its message.

    >>> why(FileNotFoundError(2, "No such file or directory")), why(ValueError("bad baud"))
    ('No such file or directory', 'bad baud')
    """
    return str(getattr(e, "strerror", None) or getattr(e, "reason", None) or e or type(e).__name__)


def require(module: str, package: str) -> ModuleType:
    """Import an optional dependency of the feeds extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"this source/sink needs {package}, which is not installed; {FEEDS_HINT}"
        ) from None
