"""The one dispatcher for live sources: ``mqtt://``, ``mqtts://``, ``serial://``, ``udp://``.

``open_items(source, fmt, options, stack)`` opens one (connected and subscribed, or bound,
before it returns) and gives the ``(position, item)`` iterable for ``StreamRunner.run`` with
its format; whatever needs closing is registered on ``stack``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack

from edgernn.errors import UsageError
from edgernn.feeds.mqtt_source import open_mqtt_source
from edgernn.feeds.options import Item, LiveOptions, live_format, with_header
from edgernn.feeds.serial import open_serial_source
from edgernn.feeds.udp import open_udp_source


def open_items(
    source: str, fmt: str, options: LiveOptions, stack: ExitStack
) -> tuple[Iterable[Item], str]:
    """Open a live source; returns its items and the format the runner must read them in."""
    scheme = source.split("://", 1)[0].lower()
    if scheme in ("mqtt", "mqtts"):
        fmt = live_format(fmt, options.csv_header, header_in_feed=False)
        return open_mqtt_source(source, fmt, options, stack), fmt
    fmt = live_format(fmt, options.csv_header, header_in_feed=True)
    if options.key_level is not None:
        raise UsageError(
            "--mqtt-key-level is for MQTT sources; use --key FIELD for a field of the record"
        )
    if scheme == "serial":
        lines = open_serial_source(source, stack)
    else:
        lines = open_udp_source(source, stack)
    return with_header(lines, options.csv_header), fmt
