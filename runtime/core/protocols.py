"""What the stream state needs of a loaded model: the one interface ``Model`` meets.

``Stream``, ``Pool``, ``WindowStream``, ``StepBuffers`` and ``Slabs`` take the model they run
as a ``LoadedModel``, not as ``edgernn.core.model.Model``: model.py makes each of them (its
``stream()``, ``pool()``, ...), so none of them may import it back.

>>> from edgernn.core.model import Model
>>> sorted(set(LoadedModel.__annotations__) - set(vars(Model())))
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgernn.core.providers import SessionConfig
from edgernn.signature import Signature


class LoadedModel(Protocol):
    """A graph in an ONNX Runtime session, with its signature (``edgernn.core.model.Model``)."""

    path: Path  # the .onnx file
    model_id: str  # a hash of the graph file: snapshots are bound to it
    signature: Signature
    session: Any  # the onnxruntime.InferenceSession
    config: SessionConfig
    run_options: Any  # onnxruntime.RunOptions for every call that is no CUDA graph's, or None
    state_device: str  # where streams keep their state between steps: "host" or "cuda"

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        """Fresh state for ``batch`` streams, one array per state tensor."""
        ...

    def run(
        self, x: np.ndarray, states: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One graph call: model units in and out, the states passed explicitly."""
        ...
