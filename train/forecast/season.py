"""Season, trend and the baselines every forecast is judged against.

- ``detect_season``: the season length, from the autocorrelation of the (linearly detrended)
  training split: its highest local peak, or a shorter one nearly as high (a daily peak
  beats the weekly one it repeats in).
- ``trend_ratio``: how far a straight-line trend moves the level over the training split, in
  units of the fluctuation around that line; above 1 the series trends (target mode "delta").
- ``Baselines``: naive last value, seasonal naive (the value one season earlier) and the
  seasonal linear autoregression (least squares on lags 1, 2, s, s+1 over the training split),
  each forecasting row ``i`` from rows before it, in the user's units.

>>> t = np.arange(400.0)
>>> wave = np.sin(2 * np.pi * t / 12) + 0.01 * t
>>> detect_season(wave[:280])
12
>>> round(trend_ratio(wave[:280]), 1) > 1.0
True
>>> b = Baselines.fit([wave[:280, None]], season=12)
>>> b.lags
(1, 2, 12, 13)
>>> err = b.seasonal_ar(wave[:, None])[300:] - wave[300:, None]   # rows 300.. from their past
>>> float(np.abs(err).max()) < 1e-6
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgernn.train.forecast.highway import lag_matrix, least_squares

MIN_PEAK = 0.2  # autocorrelation a peak needs to count as a season
NEARLY = 0.9  # a shorter period whose peak reaches this share of the best one is preferred
MAX_SEASON = 1000  # longest season looked for (the ring keeps s + 1 rows per key)
TREND = 1.0  # trend_ratio above which "auto" forecasts changes (delta) instead of levels


def detect_season(values: np.ndarray) -> int | None:
    """The season length of ``values`` (N,), or None when no autocorrelation peak reaches
    MIN_PEAK. Looks at lags 2 .. min(N // 3, MAX_SEASON)."""
    a = _detrend(np.asarray(values, dtype=np.float64))
    top = min(len(a) // 3, MAX_SEASON)
    if top < 3 or not a.std() > 0:
        return None
    acf = _autocorrelation(a, top)  # (top + 1,), acf[0] = 1
    peaks = [
        lag
        for lag in range(2, top)
        if acf[lag] >= MIN_PEAK and acf[lag] >= acf[lag - 1] and acf[lag] > acf[lag + 1]
    ]
    if not peaks:
        return None
    best = max(peaks, key=lambda lag: acf[lag])
    for lag in peaks:  # shortest first
        if lag < best and acf[lag] >= NEARLY * acf[best]:
            return lag
    return best


def trend_ratio(values: np.ndarray) -> float:
    """|slope| * N / std(values - line): how many fluctuation widths the trend line climbs."""
    a = np.asarray(values, dtype=np.float64)
    if len(a) < 3:
        return 0.0
    t = np.arange(len(a), dtype=np.float64)
    slope, intercept = np.polyfit(t, a, 1)
    spread = float((a - (slope * t + intercept)).std())
    return float(abs(slope) * len(a) / spread) if spread > 0 else 0.0


def season_lags(season: int | None) -> tuple[int, ...]:
    """The autoregression's lags: 1, 2 and, with a season s, s and s + 1."""
    return (1, 2) if not season or season <= 2 else (1, 2, season, season + 1)


@dataclass(frozen=True)
class Baselines:
    """The three baselines, fitted on the training rows, per target (user units)."""

    season: int | None  # s (None: no season; seasonal naive is then the naive forecast)
    lags: tuple[int, ...]  # the autoregression's lags
    weight: np.ndarray  # (K, n_lags) least-squares coefficients
    bias: np.ndarray  # (K,) intercepts

    @classmethod
    def fit(cls, train: Sequence[np.ndarray], season: int | None) -> Baselines:
        """Least squares over every series' training rows (each (N, K), user units)."""
        lags = season_lags(season)
        k = train[0].shape[1]
        weight, bias = np.zeros((k, len(lags))), np.zeros(k)
        for i in range(k):
            rows = [lag_matrix(s[:, i], lags) for s in train if len(s) > max(lags)]
            goal = [s[max(lags) :, i] for s in train if len(s) > max(lags)]
            if rows:
                weight[i], bias[i] = least_squares(np.concatenate(rows), np.concatenate(goal))
        return cls(season, lags, weight, bias)

    @property
    def first(self) -> int:
        """The first row every baseline can forecast (it needs max(lags) rows before it)."""
        return max(self.lags[-1], self.season or 1)

    def naive(self, y: np.ndarray) -> np.ndarray:
        """(N, K) -> (N, K): row i forecast as row i - 1 (NaN for row 0)."""
        return _shifted(y, 1)

    def seasonal_naive(self, y: np.ndarray) -> np.ndarray:
        """Row i forecast as row i - s (the naive forecast without a season)."""
        return _shifted(y, self.season or 1)

    def seasonal_ar(self, y: np.ndarray) -> np.ndarray:
        """Row i forecast by the autoregression on the rows before it (NaN for the first
        max(lags) rows)."""
        y = np.asarray(y, dtype=np.float64)
        out = np.full(y.shape, np.nan)
        n = max(self.lags)
        for i in range(y.shape[1]):
            if len(y) > n:
                out[n:, i] = lag_matrix(y[:, i], self.lags) @ self.weight[i] + self.bias[i]
        return out

    def to_dict(self) -> dict:
        return {
            "season": self.season,
            "lags": list(self.lags),
            "coefficients": self.weight.round(6).tolist(),
            "intercepts": self.bias.round(6).tolist(),
        }


def _shifted(y: np.ndarray, by: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    out = np.full(y.shape, np.nan)
    out[by:] = y[:-by]
    return out


def _detrend(a: np.ndarray) -> np.ndarray:
    t = np.arange(len(a), dtype=np.float64)
    return a - np.polyval(np.polyfit(t, a, 1), t) if len(a) > 2 else a - a.mean()


def _autocorrelation(a: np.ndarray, top: int) -> np.ndarray:
    """acf[0..top] of a zero-mean (N,) series, via the FFT."""
    a = a - a.mean()
    n = len(a)
    spectrum = np.fft.rfft(a, 2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum))[: top + 1]
    return acov / acov[0]
