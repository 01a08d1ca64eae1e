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
"""

from __future__ import annotations

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
    t = np.arange(n, dtype=np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    cycle = np.sin(2 * np.pi * t / period + phase) + 0.3 * np.sin(4 * np.pi * t / period + 2 * phase)
    trend = 0.5 * np.sin(2 * np.pi * t / (period * 30))  # slow drift over a "month"
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
