"""The classic synthetic sensor signal: trend + seasonality + noise + injected spikes and dips.

It feeds ``edgernn stream``'s built-in demo source and ``--data synth:sensor`` in training,
so the shipped model and the demo speak about the same kind of world. Seeded: the same
arguments always give the same numbers.

>>> s = sensor_signal(200, seed=1)
>>> sorted(s)
['anomaly', 'humidity', 'temp']
>>> s["temp"].shape, s["temp"].dtype
((200,), dtype('float32'))
>>> bool((sensor_signal(200, seed=1)["temp"] == s["temp"]).all())
True

``sensor_blocks`` is the same sensor without an end, for feeds that must not depend on how
much is read: its first block is ``sensor_signal(block, seed)``, later blocks continue the
same cycle and trend with noise of their own, so sample i never changes.

>>> b = sensor_blocks(seed=1, block=200)
>>> bool((next(b)["temp"] == s["temp"]).all()), next(b)["temp"].shape
(True, (200,))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

COLUMNS = ("temp", "humidity")


def sensor_signal(
    n: int,
    seed: int = 0,
    period: int = 96,
    anomaly_rate: float = 0.005,
    noise: float = 0.3,
) -> dict[str, np.ndarray]:
    """``n`` samples of a temperature / humidity sensor, one row per time step.

    temp: a slow trend, a daily cycle of ``period`` steps with a harmonic, and Gaussian noise.
    humidity: moves against the temperature cycle, with its own noise.
    anomaly: True where a spike or dip of 3-6 degrees was injected into temp.
    """
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi)
    return _at(np.arange(n, dtype=np.float64), phase, rng, period, anomaly_rate, noise)


def sensor_blocks(
    seed: int = 0,
    block: int = 1000,
    period: int = 96,
    anomaly_rate: float = 0.005,
    noise: float = 0.3,
) -> Iterator[dict[str, np.ndarray]]:
    """The sensor of ``sensor_signal`` without an end, ``block`` samples at a time.

    Block 0 is exactly ``sensor_signal(block, seed, ...)``. Block k > 0 covers time steps
    k * block .. (k + 1) * block - 1 of the same cycle and trend (same phase: the first number
    ``sensor_signal`` draws), with noise and anomalies from a generator seeded by (seed, k).
    """
    yield sensor_signal(block, seed, period, anomaly_rate, noise)
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)  # sensor_signal's phase for this seed
    k = 1
    while True:
        yield _at(
            np.arange(k * block, (k + 1) * block, dtype=np.float64),
            phase,
            np.random.default_rng([seed, k]),
            period,
            anomaly_rate,
            noise,
        )
        k += 1


def _at(
    t: np.ndarray,
    phase: float,
    rng: np.random.Generator,
    period: int,
    anomaly_rate: float,
    noise: float,
) -> dict[str, np.ndarray]:
    """The sensor at time steps ``t`` (float64), noise and anomalies drawn from ``rng`` in a
    fixed order."""
    n = len(t)
    cycle = np.sin(2 * np.pi * t / period + phase) + 0.3 * np.sin(
        4 * np.pi * t / period + 2 * phase
    )
    trend = 0.5 * np.sin(2 * np.pi * t / (period * 30))
    temp = 20.0 + 4.0 * cycle + trend + rng.normal(0, noise, n)
    humidity = 60.0 - 8.0 * cycle + rng.normal(0, 2 * noise, n)
    anomaly = rng.random(n) < anomaly_rate
    signs = rng.choice([-1.0, 1.0], size=n)
    temp = temp + anomaly * signs * rng.uniform(3.0, 6.0, n)
    return {
        "temp": temp.astype(np.float32),
        "humidity": humidity.astype(np.float32),
        "anomaly": anomaly,
    }
