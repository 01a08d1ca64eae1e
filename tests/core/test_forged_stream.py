"""A forged Stream snapshot (checksum recomputed, content wrong) is refused by `Stream` as the
pool refuses it: one StateError naming what is wrong, never a silent NaN state or a KeyError."""

from __future__ import annotations

import numpy as np
import pytest

import edgernn
from edgernn.core import snapshot
from edgernn.errors import StateError


@pytest.fixture(scope="module")
def model():
    return edgernn.load(provider="cpu")


def forged(model, edit) -> bytes:
    stream = model.stream()
    for _ in range(3):
        stream.step([21.0, 50.0])
    meta, arrays = snapshot.unpack(stream.snapshot(), model.model_id)
    meta.pop("model_id")
    edit(meta, arrays)
    return snapshot.pack(model.model_id, meta, arrays)  # a valid checksum over forged content


def nan_state(meta, arrays):
    arrays["state_0"] = np.full_like(arrays["state_0"], np.nan)


def no_steps(meta, arrays):
    del meta["n_steps"]


def float_steps(meta, arrays):
    meta["n_steps"] = 2.5


def extra_array(meta, arrays):
    arrays["state_99"] = arrays["state_0"]


@pytest.mark.parametrize("edit", [nan_state, no_steps, float_steps, extra_array])
def test_a_forged_snapshot_is_refused_by_stream_as_by_pool(model, edit):
    blob = forged(model, edit)
    with pytest.raises(StateError):
        model.pool().restore("k", blob)
    with pytest.raises(StateError):
        model.stream(state=blob)


def test_a_true_snapshot_still_restores(model):
    stream = model.stream()
    stream.step([21.0, 50.0])
    again = model.stream(state=stream.snapshot())
    assert again.step([22.0, 51.0]).forecast == stream.step([22.0, 51.0]).forecast
