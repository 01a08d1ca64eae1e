"""State blobs that know what they belong to and notice damage.

A blob is ``MAGIC | version (1 byte) | sha256(payload) (32 bytes) | payload``, where the payload
is an ``.npz`` of arrays plus a JSON header that names the model (``model_id``: a hash of the
graph file, signature included). Unpacking checks all of it and refuses a blob that is
truncated, corrupted, of another version, or taken from another model; nothing is half-loaded.

>>> import numpy as np
>>> blob = pack("m1", {"kind": "demo"}, {"a": np.arange(3, dtype=np.float32)})
>>> meta, arrays = unpack(blob, "m1")
>>> meta["kind"], arrays["a"].tolist()
('demo', [0.0, 1.0, 2.0])
>>> unpack(blob[:-1], "m1")
Traceback (most recent call last):
...
edgernn.errors.StateError: snapshot is corrupt or truncated (checksum mismatch); take a new snapshot
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.errors import StateError

MAGIC = b"EDGERNN-STATE\n"
VERSION = 2
_HEAD = len(MAGIC) + 1 + 32


def pack(model_id: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """Arrays and a JSON-able header, bound to ``model_id``, with a checksum."""
    header = dict(meta, model_id=model_id)
    buf = io.BytesIO()
    meta_bytes = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    # numpy's stub types savez's keywords as its allow_pickle flag: the arrays are not flags
    np.savez(buf, __meta__=meta_bytes, **arrays)  # type: ignore[arg-type]
    payload = buf.getvalue()
    return MAGIC + bytes([VERSION]) + hashlib.sha256(payload).digest() + payload


def unpack(blob: bytes, model_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a blob made by ``pack`` for ``model_id``; StateError otherwise."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or bytes(blob[: len(MAGIC)]) != MAGIC:
        raise StateError("not an edgernn snapshot (bad magic bytes); pass bytes from snapshot()")
    version = blob[len(MAGIC)]
    if version != VERSION:
        raise StateError(
            f"snapshot version {version} is not {VERSION}; take a new snapshot with this edgernn"
        )
    payload = bytes(blob[_HEAD:])
    if hashlib.sha256(payload).digest() != bytes(blob[len(MAGIC) + 1 : _HEAD]):
        raise StateError(
            "snapshot is corrupt or truncated (checksum mismatch); take a new snapshot"
        )
    with np.load(io.BytesIO(payload)) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    if meta.get("model_id") != model_id:
        raise StateError(
            f"snapshot belongs to model {meta.get('model_id')}, not {model_id}; "
            "restore it into the model that took it"
        )
    return meta, arrays


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes, never a mix.

    Temporary file in the same directory, fsync, rename over ``path``, fsync the directory.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
