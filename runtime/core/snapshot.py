"""State blobs that know what they belong to and notice damage, and refuse forged content.

A blob is ``MAGIC | version (1 byte) | sha256(payload) (32 bytes) | payload``. Version 3 (what
``pack`` writes) has a raw payload: a 4-byte little-endian header length, a JSON header, then
each array's bytes back to back; the header names the model (``model_id``: a hash of the graph
file, signature included) and lists the arrays (``__arrays__``: name, dtype, shape). Version 2
(edgernn up to 0.3; still read) has an ``.npz`` payload with the header as ``__meta__``.
Unpacking checks all of it and refuses a blob that is truncated, corrupted, of another version,
taken from another model, or whose content is malformed although its checksum is right (a
forged blob: duplicate or non-numeric arrays, a header that is not a JSON object);
``check_stream`` then checks a stream's content against the model (array names, dtypes and
shapes, finite values, header field types). Nothing is half-loaded.

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
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.core.drift import STATE as DRIFT_STATE
from edgernn.errors import StateError

MAGIC = b"EDGERNN-STATE\n"
VERSION = 3
READABLE = (2, 3)  # versions unpack reads
_HEAD = len(MAGIC) + 1 + 32
# dtypes a snapshot's arrays may have (never object arrays: nothing is unpickled)
_DTYPES = frozenset({"float32", "float64", "int64", "bool", "uint8"})
_FORGED = "; the checksum matches, so it was written that way: take a new snapshot"


def pack(model_id: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """Arrays and a JSON-able header, bound to ``model_id``, with a checksum."""
    listed, data = [], []
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        listed.append([name, a.dtype.name, list(a.shape)])
        data.append(a.tobytes())
    return pack_parts(model_id, meta, listed, data)


def pack_parts(
    model_id: str, meta: Mapping[str, Any], listed: list[list[Any]], data: Sequence[bytes]
) -> bytes:
    """``pack`` from arrays given as ``[name, dtype name, shape]`` each and their C-order
    bytes (many snapshots at once, without an array object per tensor).

    >>> a = np.arange(3, dtype=np.float32)
    >>> pack_parts("m1", {}, [["a", "float32", [3]]], [a.tobytes()]) == pack("m1", {}, {"a": a})
    True
    """
    header = json.dumps(dict(meta, model_id=model_id, __arrays__=listed)).encode()
    payload = b"".join([len(header).to_bytes(4, "little"), header, *data])
    return MAGIC + bytes([VERSION]) + hashlib.sha256(payload).digest() + payload


def unpack(blob: bytes, model_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, arrays) of a blob made by ``pack`` for ``model_id``; StateError otherwise."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or bytes(blob[: len(MAGIC)]) != MAGIC:
        raise StateError("not an edgernn snapshot (bad magic bytes); pass bytes from snapshot()")
    version = blob[len(MAGIC)] if len(blob) > len(MAGIC) else -1
    if version not in READABLE:
        raise StateError(
            f"snapshot version {version} is not {VERSION}; take a new snapshot with this edgernn"
        )
    payload = bytes(blob[_HEAD:])
    if hashlib.sha256(payload).digest() != bytes(blob[len(MAGIC) + 1 : _HEAD]):
        raise StateError(
            "snapshot is corrupt or truncated (checksum mismatch); take a new snapshot"
        )
    meta, arrays = _raw(payload) if version == 3 else _npz(payload)
    if meta.get("model_id") != model_id:
        raise StateError(
            f"snapshot belongs to model {str(meta.get('model_id'))[:80]}, not {model_id}; "
            "restore it into the model that took it"
        )
    return meta, arrays


def _header(raw: bytes) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise StateError(f"snapshot header is not JSON ({type(e).__name__}){_FORGED}") from e
    if not isinstance(meta, dict):
        raise StateError(f"snapshot header is a {type(meta).__name__}, not an object{_FORGED}")
    return meta


def _raw(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A version-3 payload: header length, JSON header, the arrays' bytes."""
    size = int.from_bytes(payload[:4], "little")
    meta = _header(payload[4 : 4 + size])
    listed = meta.pop("__arrays__", None)
    if not isinstance(listed, list):
        raise StateError(f"snapshot header lists no arrays{_FORGED}")
    arrays: dict[str, np.ndarray] = {}
    at = 4 + size
    for item in listed:
        ok = isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
        if not ok or item[1] not in _DTYPES or not _dims(item[2]):
            raise StateError(f"snapshot lists a malformed array {str(item)[:80]}{_FORGED}")
        name, dtype, shape = item
        if name in arrays:
            raise StateError(f"snapshot holds array {name!r} twice{_FORGED}")
        n = int(np.dtype(dtype).itemsize * math.prod(shape))
        if at + n > len(payload):
            raise StateError(f"snapshot array {name!r} runs past the end{_FORGED}")
        arrays[name] = np.frombuffer(payload, dtype, math.prod(shape), at).reshape(shape)
        at += n
    if at != len(payload):
        raise StateError(f"snapshot has {len(payload) - at} bytes after its arrays{_FORGED}")
    return meta, arrays


def _dims(shape: Any) -> bool:
    return (
        isinstance(shape, list)
        and len(shape) <= 8
        and all(type(d) is int and 0 <= d < 2**31 for d in shape)
    )


def _npz(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A version-2 payload: an ``.npz`` with the header as ``__meta__``."""
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            names = list(z.files)
            if len(set(names)) != len(names):
                raise StateError(f"snapshot holds an array twice{_FORGED}")
            arrays = {k: z[k] for k in names}
    except StateError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise StateError(f"snapshot payload cannot be read ({type(e).__name__}){_FORGED}") from e
    if "__meta__" not in arrays:
        raise StateError(f"snapshot has no header{_FORGED}")
    meta = _header(arrays.pop("__meta__").tobytes())
    bad = [k for k, a in arrays.items() if a.dtype.name not in _DTYPES]
    if bad:
        raise StateError(f"snapshot array {bad[0]!r} is not numeric{_FORGED}")
    return meta, arrays


def check_stream(
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    shapes: Sequence[tuple[int, ...]],
    features: int,
    targets: int,
) -> None:
    """StateError unless a stream snapshot's content fits a model whose one-stream state
    tensors have ``shapes`` (float32, as ``state_0``, ``state_1``, ...), with ``features``
    inputs and ``targets`` targets: exactly those arrays, finite; header fields of the right
    types and lengths, finite.

    >>> meta = {"kind": "stream", "n_steps": 1, "last_row": None, "last_pred": None,
    ...         "residuals": {"count": 0, "mean": [0.0], "var": [float("nan")]}}
    >>> check_stream(meta, {"state_0": np.zeros((1, 4), np.float32)}, [(1, 4)], 2, 1)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    edgernn.errors.StateError: snapshot field residuals.var is [nan], not 1 finite number(s); ...
    """
    if meta.get("kind") != "stream":
        raise StateError(f"this is a {str(meta.get('kind'))[:40]!r} snapshot, not a stream's")
    want = [f"state_{i}" for i in range(len(shapes))]
    if sorted(arrays) != sorted(want):
        raise StateError(
            f"snapshot holds arrays {sorted(arrays)[:8]}, not this model's {want}{_FORGED}"
        )
    for name, shape in zip(want, shapes):
        a = arrays[name]
        if a.dtype != np.float32 or a.shape != tuple(shape):
            raise StateError(
                f"snapshot {name} is {a.dtype}{a.shape}, not this model's float32{tuple(shape)}; "
                "take a new snapshot with this model"
            )
        if not np.isfinite(a).all():
            raise StateError(f"snapshot {name} holds NaN or infinity{_FORGED}")
    _count(meta.get("n_steps"), "n_steps")
    rows = (meta.get("last_row"), meta.get("last_pred"))
    if (rows[0] is None) != (rows[1] is None):
        raise StateError(f"snapshot has only one of last_row and last_pred{_FORGED}")
    if rows[0] is not None:
        _floats(rows[0], features, "last_row")
        _floats(rows[1], targets, "last_pred")
    r = meta.get("residuals")
    if not isinstance(r, dict):
        raise StateError(f"snapshot field residuals is not an object{_FORGED}")
    _count(r.get("count"), "residuals.count")
    _floats(r.get("mean"), targets, "residuals.mean")
    if min(_floats(r.get("var"), targets, "residuals.var"), default=0.0) < 0:
        raise StateError(f"snapshot field residuals.var is negative{_FORGED}")
    d = meta.get("drift")
    if d is None:  # older snapshots have none: the drift test starts afresh
        return
    if not isinstance(d, dict):
        raise StateError(f"snapshot field drift is not an object{_FORGED}")
    _count(d.get("count"), "drift.count")
    for name in DRIFT_STATE:
        _floats(d.get(name), targets, f"drift.{name}")


def _count(value: Any, field: str) -> None:
    if type(value) is not int or not 0 <= value < 2**63:
        raise StateError(f"snapshot field {field} is {str(value)[:40]!r}, not a count{_FORGED}")


def _floats(value: Any, n: int, field: str) -> list[float]:
    ok = isinstance(value, list) and len(value) == n
    if not ok or not all(type(v) in (int, float) and math.isfinite(v) for v in value):
        raise StateError(
            f"snapshot field {field} is {str(value)[:60]}, not {n} finite number(s){_FORGED}"
        )
    return [float(v) for v in value]


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new bytes, never a mix.

    Temporary file in the same directory, fsync, rename over ``path``, fsync the directory;
    on an error (a full disk) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
