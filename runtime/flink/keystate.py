"""One key's state in Flink: a compact, versioned, checksummed blob bound to the model.

The blob is an ``edgernn.core.snapshot`` (magic, version, sha256, the model's id) holding the
key's stream snapshot (recurrent state, step count, anomaly and drift statistics: the format
``Pool.snapshot`` and ``Stream.snapshot`` share) plus what orders the key's records: its last
timestamp and the digests of its latest records (redeliveries are skipped, as ``edgernn
stream`` does). Never a pickle: another Python, edgernn or machine reads it the same way.

>>> import edgernn
>>> model = edgernn.load(provider="cpu")
>>> blob = pack_key(model.model_id, KeyState(None, 7, ["00ff"]))
>>> unpack_key(blob, model.model_id)
KeyState(stream=None, last_ts=7, recent=['00ff'])
>>> unpack_key(blob, "another-model")
Traceback (most recent call last):
...
edgernn.errors.StateError: snapshot belongs to model ..., not another-model; restore it ...
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgernn.core import snapshot
from edgernn.errors import StateError

KIND = "flink-key"
FORMAT = 1  # this module's layout inside the snapshot (the snapshot has its own version)
RECENT = 32  # digests kept per key to spot redeliveries


@dataclass
class KeyState:
    stream: bytes | None  # the key's stream snapshot (Pool.snapshot); None: not stepped yet
    last_ts: Any = None  # timestamp of the key's last accepted record (None: none seen)
    recent: list[str] = field(default_factory=list)  # hex digests of its latest records


def pack_key(model_id: str, state: KeyState) -> bytes:
    """``state`` as a blob bound to ``model_id``."""
    meta = {"kind": KIND, "format": FORMAT, "last_ts": state.last_ts, "recent": state.recent}
    arrays = {} if state.stream is None else {"stream": np.frombuffer(state.stream, np.uint8)}
    return snapshot.pack(model_id, meta, arrays)


def unpack_key(blob: bytes, model_id: str) -> KeyState:
    """The ``KeyState`` of a ``pack_key`` blob; StateError for another model's, or damage."""
    meta, arrays = snapshot.unpack(blob, model_id)
    if meta.get("kind") != KIND or meta.get("format") != FORMAT:
        raise StateError(
            f"this is a {meta.get('kind')!r} state of format {meta.get('format')}, not a "
            f"{KIND!r} of format {FORMAT}; start the job without that state"
        )
    stream = arrays["stream"].tobytes() if "stream" in arrays else None
    return KeyState(stream, meta["last_ts"], list(meta["recent"]))


def record_digest(key: str, timestamp: Any, values: list[float]) -> str:
    """A record's identity (key, timestamp, values), the same in every process (unlike hash()).

    >>> d = record_digest("a", 1, [21.5])
    >>> d == record_digest("a", 1, [21.5]) != record_digest("a", 2, [21.5]), len(d)
    (True, 16)
    """
    text = json.dumps([key, timestamp, values], default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
