"""One-step-ahead baselines for the quality benchmark, numpy only and self-contained (the
product's report may copy them; it cannot import from benchmarks/).

Every forecaster here returns ``pred`` with ``pred[t]`` the forecast of ``y[t]`` made from
``y[:t]`` only (NaN where it has too little history), so scoring a test span [b, n) is
``errors(y[b:], pred[b:])`` for the model and every baseline alike.

>>> y = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0])   # (N,) period 3
>>> naive(y)[3:].tolist(), seasonal_naive(y, 3)[3:].tolist()
([3.0, 1.0, 2.0, 3.0, 1.0], [1.0, 2.0, 3.0, 1.0, 2.0])
>>> detect_season(np.tile([0.0, 1.0, 5.0, 2.0], 30))
4
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeasonalAR:
    """Least squares y[t] = c + sum_k a_k y[t - k] over lags (1, 2, s, s + 1), deduplicated."""

    lags: tuple[int, ...]  # the lags used, ascending (s <= 2 folds into 1, 2)
    intercept: float  # c
    coef: tuple[float, ...]  # a_k, one per lag, in ``lags`` order

    def predict(self, y: np.ndarray) -> np.ndarray:
        """(N,) -> (N,) one-step-ahead forecasts; NaN for the first max(lags) steps."""
        y = np.asarray(y, dtype=np.float64)
        pred = np.full(len(y), np.nan)  # (N,)
        m = max(self.lags)
        if len(y) > m:
            x = _lagged(y, self.lags, m, len(y))  # (N - m, L)
            pred[m:] = self.intercept + x @ np.asarray(self.coef)
        return pred


def ar_lags(season: int) -> tuple[int, ...]:
    """The seasonal AR's lags for a season length: 1, 2, s, s + 1 without repeats.

    >>> ar_lags(12), ar_lags(1)
    ((1, 2, 12, 13), (1, 2))
    """
    if season < 1:
        raise ValueError(f"season {season} must be at least 1 (1 = no season)")
    return tuple(sorted({1, 2, season, season + 1}))


def seasonal_ar_fit(y_train: np.ndarray, season: int) -> SeasonalAR:
    """Fit the seasonal AR (with intercept) by least squares on the training span only.

    >>> rng = np.random.default_rng(0)
    >>> y = np.zeros(3000)
    >>> for t in range(13, 3000):
    ...     y[t] = 1.0 + 0.5 * y[t - 1] + 0.3 * y[t - 12] + rng.normal()
    >>> fit = seasonal_ar_fit(y, 12)
    >>> fit.lags, np.allclose(fit.coef, [0.5, 0.0, 0.3, 0.0], atol=0.05)
    ((1, 2, 12, 13), True)
    """
    y = np.asarray(y_train, dtype=np.float64)
    lags = ar_lags(season)
    m = max(lags)
    if len(y) <= m + len(lags) + 1:
        raise ValueError(
            f"{len(y)} training values are too few for lags {lags}: need more than "
            f"{m + len(lags) + 1}"
        )
    x = _lagged(y, lags, m, len(y))  # (N - m, L)
    design = np.column_stack([np.ones(len(x)), x])  # (N - m, 1 + L)
    beta, *_ = np.linalg.lstsq(design, y[m:], rcond=None)  # (1 + L,)
    return SeasonalAR(lags, float(beta[0]), tuple(float(b) for b in beta[1:]))


def naive(y: np.ndarray) -> np.ndarray:
    """Last value: pred[t] = y[t - 1]."""
    return seasonal_naive(y, 1)


def seasonal_naive(y: np.ndarray, season: int) -> np.ndarray:
    """Value one season earlier: pred[t] = y[t - season]."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.full(len(y), np.nan)  # (N,)
    pred[season:] = y[: len(y) - season]
    return pred


def detect_season(
    y_train: np.ndarray, max_lag: int | None = None, min_acf: float = 0.1, near: float = 0.9
) -> int:
    """Season length from the autocorrelation of the linearly detrended training span: the lag
    (>= 2) of the first local ACF peak within ``near`` of the highest one (multiples of the season
    and slow cycles can peak a little higher, as El Nino's 48 months over its 12), counting only
    peaks above ``min_acf``; 1 when there is none."""
    y = np.asarray(y_train, dtype=np.float64)
    n = len(y)
    t = np.arange(n, dtype=np.float64)
    r = y - np.polyval(np.polyfit(t, y, 1), t)  # (N,) residual after a linear trend
    r -= r.mean()
    denom = float(r @ r)
    hi = min(max_lag or n // 3, n - 2)
    if denom == 0.0 or hi < 3:
        return 1
    acf = np.array([float(r[: n - k] @ r[k:]) / denom for k in range(hi + 1)])  # (hi + 1,)
    peaks = [k for k in range(2, hi) if acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]]
    peaks = [k for k in peaks if acf[k] > min_acf]
    if not peaks:
        return 1
    top = max(acf[k] for k in peaks)
    return next(k for k in peaks if acf[k] >= near * top)


def errors(actual: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(MAE, RMSE) over the rows where both are finite.

    >>> errors(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0]))
    (1.0, 1.2909944487358056)
    """
    a, p = np.asarray(actual, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(p)
    if not ok.any():
        return float("nan"), float("nan")
    d = a[ok] - p[ok]
    return float(np.abs(d).mean()), float(np.sqrt((d * d).mean()))


def _lagged(y: np.ndarray, lags: tuple[int, ...], start: int, stop: int) -> np.ndarray:
    """(stop - start, L): row i holds y[start + i - k] for each lag k."""
    return np.column_stack([y[start - k : stop - k] for k in lags])
