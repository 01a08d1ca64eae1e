"""A pool's state in bulk: many keys' stream snapshots at once (what a checkpoint writes), and
the content checks of a whole-pool snapshot (``Pool.load_state``, an old state file).

>>> import edgernn, numpy as np
>>> pool = edgernn.load(provider="cpu").pool()
>>> _ = pool.step(["a", "b"], [[21.0, 50.0], [19.0, 60.0]])
>>> blobs = gather(pool.model.model_id, pool._slabs, pool._extras.arrays, pool._shapes,
...                np.array([1, 0]))
>>> blobs == [pool.snapshot("b"), pool.snapshot("a")]
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from edgernn.core import snapshot
from edgernn.core.drift import STATE as DRIFT_STATE
from edgernn.core.slabs import Slabs
from edgernn.errors import StateError
from edgernn.signature import StateSpec

_FORGED = "; the checksum matches, so it was written that way: take a new checkpoint"


def gather(
    model_id: str,
    slabs: Slabs,
    extras: Mapping[str, np.ndarray],
    shapes: Sequence[tuple[int, ...]],
    slots: np.ndarray,
) -> list[bytes]:
    """The stream snapshot of each of ``slots`` (N,), the bytes ``Pool.snapshot`` gives,
    gathered per state tensor (``slabs``) and per per-slot field (``extras``) at once."""
    n = len(slots)
    states = [  # (N, size) per tensor: the slots' states, each row one stream's bytes
        np.ascontiguousarray(np.moveaxis(np.take(s, slots, axis=ax), ax, 0)).reshape(n, -1)
        for s, ax in zip(slabs.states(write=False), slabs.axes)
    ]
    listed = [[f"state_{i}", "float32", list(shape)] for i, shape in enumerate(shapes)]
    field = {name: arr[slots].tolist() for name, arr in extras.items() if name != "seen"}
    drift = [(name, field[f"drift_{name}"]) for name in DRIFT_STATE]
    blobs = []
    for i in range(n):
        has = field["has_pred"][i]
        meta = {
            "kind": "stream",
            "n_steps": field["n_steps"][i],
            "last_row": field["last_row"][i] if has else None,
            "last_pred": field["last_pred"][i] if has else None,
            "residuals": {
                "count": field["count"][i],
                "mean": field["mean"][i],
                "var": field["var"][i],
            },
            "drift": {"count": field["drift_count"][i]} | {k: v[i] for k, v in drift},
        }
        data = [s[i].tobytes() for s in states]
        blobs.append(snapshot.pack_parts(model_id, meta, listed, data))
    return blobs


def check(
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    specs: Sequence[StateSpec],
    extras: Mapping[str, np.ndarray],
    check_stream: Callable[[bytes], object],
) -> list[Hashable]:
    """A pool snapshot's active keys, once its content is checked against the model (state
    ``specs``, the pool's per-slot ``extras`` arrays for their dtypes and shapes): keys unique,
    every array of the right dtype and shape and finite, every spilled snapshot valid
    (``check_stream``). StateError (naming what is wrong) before anything is loaded."""
    keys, spilled, extra = meta.get("keys"), meta.get("spilled"), meta.get("extra")
    if not (isinstance(keys, list) and isinstance(spilled, list) and isinstance(extra, dict)):
        raise StateError(f"pool snapshot header lacks its keys, spilled keys or extra{_FORGED}")
    every = keys + spilled
    if not all(k is None or isinstance(k, (str, int, float)) for k in every):
        raise StateError(f"pool snapshot has a key that is not text or a number{_FORGED}")
    if len(set(every)) != len(every):
        twice = next(k for k in every if every.count(k) > 1)
        raise StateError(f"pool snapshot holds key {str(twice)[:40]!r} twice{_FORGED}")
    n = len(keys)
    for i, spec in enumerate(specs):
        shape = tuple(n if a == "batch" else int(a) for a in spec.shape)
        _check_array(arrays.get(f"state_{i}"), f"state_{i}", np.dtype(np.float32), shape)
    for name, arr in extras.items():
        if name != "seen" and (name in arrays or not name.startswith("drift_")):
            _check_array(arrays.get(name), name, arr.dtype, (n, *arr.shape[1:]))
    for i, k in enumerate(spilled):
        blob = arrays.get(f"spilled_{i}")
        try:
            if blob is None:
                raise StateError(f"its snapshot spilled_{i} is missing{_FORGED}")
            check_stream(blob.tobytes())
        except StateError as e:
            raise StateError(f"spilled key {str(k)[:40]!r}: {e}") from e
    return keys


def _check_array(
    arr: np.ndarray | None, name: str, dtype: np.dtype, shape: tuple[int, ...]
) -> None:
    """StateError unless ``arr`` is finite, of ``dtype`` and ``shape``."""
    if arr is None or arr.dtype != dtype or arr.shape != shape:
        got = "missing" if arr is None else f"{arr.dtype}{arr.shape}"
        raise StateError(
            f"pool snapshot array {name} is {got}, not this model's {dtype}{shape}; "
            "take a new checkpoint with this model"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise StateError(f"pool snapshot array {name} holds NaN or infinity; take a new checkpoint")
