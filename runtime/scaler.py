"""Per-column affine scaling between the user's units and a model's: ``Scaler``.

Every exported signature carries two (inputs and targets); the runtime applies them around
each graph call, on the per-step hot path without numpy (``transform_into``,
``inverse_inplace``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Scaler:
    """Per-column affine scaling: ``scaled = (value - offset) / scale``.

    ``kind`` records how it was fitted on the training split: "standard" (mean, std),
    "minmax" (min, max - min) or "none".

    ``transform``/``inverse`` take arrays; ``transform_into``/``inverse_inplace`` do the same on
    a flat float32 memoryview (e.g. a graph call's bound input or output) with Python floats and
    no numpy, for the per-step hot path, where numpy's per-call overhead (and even a ``struct``
    round trip's allocations) cost more than the arithmetic on a handful of columns. Same bits:

    >>> sc = Scaler("standard", (20.1, 60.3), (3.7, 6.1))
    >>> row = [21.7, 55.3]
    >>> out = np.zeros(2, np.float32)
    >>> sc.transform_into(row, memoryview(out).cast("B").cast("f")) == np.float32(row).tolist()
    True
    >>> out.tobytes() == sc.transform(row).tobytes()
    True
    >>> sc.inverse_inplace(memoryview(out).cast("B").cast("f"))
    >>> out.tobytes() == sc.inverse(sc.transform(row)).tobytes()
    True
    """

    kind: str
    offset: tuple[float, ...]
    scale: tuple[float, ...]

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.offset, dtype=np.float32), np.asarray(self.scale, dtype=np.float32)

    @cached_property
    def _floats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """offset and scale as the float32 values of ``_arrays``, held in Python floats."""
        offset, scale = self._arrays
        return tuple(offset.tolist()), tuple(scale.tolist())

    def transform(self, values: Any, out: np.ndarray | None = None) -> np.ndarray:
        """User units -> model units (last axis = columns), into ``out`` when given."""
        offset, scale = self._arrays
        out = np.subtract(np.asarray(values, dtype=np.float32), offset, out=out)
        result: np.ndarray = np.divide(out, scale, out=out)
        return result

    def inverse(self, values: Any) -> np.ndarray:
        """Model units -> user units (last axis = columns)."""
        offset, scale = self._arrays
        result: np.ndarray = np.asarray(values, dtype=np.float32) * scale + offset
        return result

    # Why the memoryview versions give numpy's float32 bits: each float32 operation is done on
    # float32 values in double precision, and storing the result into a float32 memoryview
    # rounds it to float32 (a C cast, as numpy's). A double has 53 bits >= 2 * 24 + 2, so
    # rounding the double result of +, -, *, / twice (exact -> double -> float32) equals
    # rounding it once: the correctly rounded float32 result, which is what numpy computes.
    def transform_into(
        self, values: Sequence[float], out: memoryview[float], start: int = 0
    ) -> list[float]:
        """``transform`` of one row of numbers into ``out[start:]``, a flat float32 memoryview.
        Like ``transform``, it first rounds ``values`` to float32; it returns that row (float32
        values in Python floats). A value that is not a number raises TypeError or ValueError."""
        offset, scale = self._floats
        row = []
        try:
            for i in range(len(offset)):
                j = start + i
                # rounded to float32 as it is stored, as np.asarray(float32) does
                out[j] = values[i]
                v = out[j]
                row.append(v)
                out[j] = v - offset[i]  # float32(value - offset)
                out[j] = out[j] / scale[i]  # float32(diff / scale)
        except ZeroDivisionError:  # a zero scale (edgernn never fits one): numpy's inf/nan
            row = np.asarray(values, dtype=np.float32).tolist()
            for i, v in enumerate(self.transform(row).tolist()):
                out[start + i] = v
        return row

    def inverse_inplace(self, values: memoryview[float], rows: int = 1) -> None:
        """``inverse`` in place on the first ``rows`` rows of a flat float32 memoryview."""
        offset, scale = self._floats
        n = len(offset)
        for j in range(rows * n):
            i = j % n  # the column
            values[j] = values[j] * scale[i]  # float32(value * scale)
            values[j] = values[j] + offset[i]  # float32(scaled + offset)

    @staticmethod
    def identity(n: int) -> Scaler:
        return Scaler("none", (0.0,) * n, (1.0,) * n)
