"""The quality benchmark's baselines on synthetic series with known answers (numpy only: no
statsmodels or pmdarima needed). ``pytest benchmarks/test_quality_baselines.py``"""

from __future__ import annotations

import numpy as np
import pytest
import quality_baselines as qb


def seasonal_ar_process(n: int, season: int, coef: dict[int, float], seed: int = 0) -> np.ndarray:
    """y[t] = 2 + sum_k coef[k] y[t - k] + N(0, 1), started from zeros; (n,)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(season + 2, n):
        y[t] = 2.0 + sum(a * y[t - k] for k, a in coef.items()) + rng.normal()
    return y


def test_seasonal_ar_recovers_a_known_process():
    truth = {1: 0.4, 2: -0.2, 12: 0.5, 13: -0.1}
    fit = qb.seasonal_ar_fit(seasonal_ar_process(20_000, 12, truth), 12)
    assert fit.lags == (1, 2, 12, 13)
    np.testing.assert_allclose(fit.coef, [truth[k] for k in fit.lags], atol=0.03)
    assert fit.intercept == pytest.approx(2.0, abs=0.15)


def test_seasonal_ar_forecast_uses_only_the_past():
    y = seasonal_ar_process(600, 7, {1: 0.5, 7: 0.3})
    fit = qb.seasonal_ar_fit(y[:400], 7)
    pred = fit.predict(y)
    changed = y.copy()
    changed[500:] += 100.0  # the future moves; forecasts up to row 500 must not
    np.testing.assert_array_equal(fit.predict(changed)[:501], pred[:501])
    assert np.isnan(pred[:8]).all() and np.isfinite(pred[8:]).all()


def test_seasonal_naive_is_exact_on_a_periodic_series():
    y = np.tile([3.0, 1.0, 4.0, 1.0, 5.0, 9.0], 20)  # (120,) period 6
    pred = qb.seasonal_naive(y, 6)
    assert qb.errors(y[60:], pred[60:]) == (0.0, 0.0)
    assert qb.errors(y[60:], qb.naive(y)[60:])[0] > 1.0


@pytest.mark.parametrize("season", [4, 12, 52])
def test_detect_season_finds_the_period_under_trend_and_noise(season):
    rng = np.random.default_rng(season)
    t = np.arange(season * 12)
    y = 0.05 * t + np.sin(2 * np.pi * t / season) + 0.3 * rng.normal(size=len(t))
    assert qb.detect_season(y) == season


def test_detect_season_says_none_for_white_noise():
    assert qb.detect_season(np.random.default_rng(1).normal(size=500), min_acf=0.3) == 1


def test_too_short_a_training_span_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match="10 training values are too few for lags"):
        qb.seasonal_ar_fit(np.arange(10.0), 12)
