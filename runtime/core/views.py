"""Flat memoryviews of numpy arrays: how the per-step paths read and write without numpy.

A numpy call costs about a microsecond before it does anything; an item read or store through
a typed memoryview costs tens of nanoseconds, and storing a Python float into a float32 view
rounds it exactly as numpy's float32 would. So the hot loops (``Stream.step``, the pool's small
ticks, ``WindowStream.step``) write inputs and read outputs through these views.

>>> import numpy as np
>>> a = np.zeros((2, 3), np.float32)
>>> v = flat(a)
>>> v[4] = 0.1                      # reaches a[1, 1], rounded to float32
>>> bool(a[1, 1] == np.float32(0.1)), v.format, len(v)
(True, 'f', 6)
>>> len(flat_bytes(a)), float32_scratch(2).tolist()
(24, [0.0, 0.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np


def flat(a: np.ndarray) -> memoryview[Any]:
    """A flat, typed, writable memoryview of a C-contiguous array (reads and writes reach ``a``)."""
    fmt: Any = a.dtype.char  # numpy's type characters are the struct formats memoryview takes
    view: memoryview[Any] = a.data.cast("B").cast(fmt)
    return view


def flat_bytes(a: np.ndarray) -> memoryview[int]:
    """A flat byte view of a C-contiguous array."""
    return a.data.cast("B")


def float32_scratch(n: int) -> memoryview[float]:
    """A flat float32 memoryview of ``n`` zeros: storing a Python float into it rounds it to
    float32 (a residual computed in double precision becomes the float32 numpy would give)."""
    return flat(np.zeros(n, np.float32))
