"""Shared fixtures: the shipped default model on the CPU, demo data in user units, and a real
MQTT broker; tests/support/ holds the helpers the test folders share."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import edgernn
from edgernn.feeds.synth import sensor_signal

sys.path.insert(0, str(Path(__file__).parent / "support"))  # helpers shared by the test folders

from brokers import broker  # noqa: E402,F401  (the MQTT tests' session broker, a fixture)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def model() -> edgernn.Model:
    return edgernn.load(provider="cpu")


@pytest.fixture(scope="session")
def rows() -> np.ndarray:
    """120 steps of the demo sensor, (T, F) in the shipped model's feature order."""
    s = sensor_signal(120, seed=5)
    return np.stack([s["temp"], s["humidity"]], axis=1)
