"""Keyed sensor records for the stream tests: several sensors interleaved step by step, each
with a signal of its own (``edgernn.feeds.synth``), as records or as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edgernn.feeds.synth import sensor_signal


def keyed_records(keys: Sequence[str], T: int, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """(key, {timestamp, temp, humidity}) for ``T`` steps of every key in turn; key i's signal
    is ``sensor_signal(T, seed + i)``."""
    cols = {k: sensor_signal(T, seed=seed + i) for i, k in enumerate(keys)}
    return [
        (k, {"timestamp": t, "temp": float(c["temp"][t]), "humidity": float(c["humidity"][t])})
        for t in range(T)
        for k, c in cols.items()
    ]


def keyed_lines(keys: Sequence[str], T: int, seed: int = 0) -> list[str]:
    """``keyed_records`` as JSON lines, each key under "sensor"."""
    return [json.dumps({"sensor": k, **rec}) for k, rec in keyed_records(keys, T, seed)]
