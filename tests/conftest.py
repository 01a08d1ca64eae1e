"""Shared fixtures: the shipped default model on the CPU, and demo data in user units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.feeds.synth import sensor_signal

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def model() -> edgernn.Model:
    return edgernn.load(provider="cpu")


@pytest.fixture(scope="session")
def rows() -> np.ndarray:
    """120 steps of the demo sensor, (T, F) in the shipped model's feature order."""
    s = sensor_signal(120, seed=5)
    return np.stack([s["temp"], s["humidity"]], axis=1)
