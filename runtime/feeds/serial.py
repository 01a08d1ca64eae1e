"""``serial:///dev/ttyUSB0?baud=115200``: lines of CSV or JSON from a serial port (pyserial,
the ``feeds`` extra, imported only when used). Input already waiting when the port opens is
dropped (pyserial flushes it): a live feed starts at the next line the device sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edgernn.errors import DataError, UsageError
from edgernn.feeds.options import Item, require, split_lines, why

DEFAULT_BAUD = 9600


def parse_serial_url(url: str) -> tuple[str, int]:
    """The device path and baud rate of a ``serial://`` URL."""
    parts = urlsplit(url)
    device = (parts.netloc + parts.path) if parts.netloc else parts.path
    if not device:
        raise UsageError("serial source has no device; e.g. serial:///dev/ttyUSB0?baud=115200")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"baud"})
    if unknown:
        raise UsageError(
            f"serial source option(s) {', '.join(unknown)} are unknown; the only one is baud=N"
        )
    baud_text = query.get("baud", [str(DEFAULT_BAUD)])[-1]
    if not baud_text.isdigit() or int(baud_text) <= 0:
        raise UsageError(
            f"serial baud {baud_text[:20]!r} is not a positive whole number; e.g. ?baud=115200"
        )
    return device, int(baud_text)


def open_serial_source(url: str, stack: ExitStack) -> Iterator[Item]:
    """Open the port now (errors surface before the stream starts); lines as ``(n, text)``."""
    serial = require("serial", "pyserial")
    device, baud = parse_serial_url(url)
    try:
        port = serial.Serial(device, baudrate=baud, timeout=None)
    except (serial.SerialException, OSError, ValueError) as e:
        raise DataError(
            f"serial port {device!r} cannot be opened ({why(e)}); check the device path "
            "and that you may read it (e.g. the dialout group)"
        ) from None
    stack.callback(port.close)
    return _lines(port, device, serial.SerialException)


def _lines(port: Any, device: str, error: type[Exception]) -> Iterator[Item]:
    n = 0
    while True:
        try:
            raw = port.readline()
        # TypeError: pyserial reading a port closed under it
        except (error, OSError, TypeError) as e:
            if not port.is_open:
                return
            raise DataError(
                f"serial port {device!r} stopped ({why(e)}); check the cable and the device"
            ) from None
        if not raw:
            continue
        for line in split_lines(raw):
            n += 1
            yield n, line
