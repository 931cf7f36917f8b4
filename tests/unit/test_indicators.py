"""Indicators against hand recursions and TA-Lib."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from macroquant.features import indicators
from macroquant.features.catalog import compute_features, parse_feature


def test_ewma_matches_the_recursion_by_hand():
    prices = pd.DataFrame({"a": [10.0, 11.0, 12.0, 11.0]})
    alpha = 2 / (3 + 1)
    m = [10.0]
    for x in [11.0, 12.0, 11.0]:
        m.append(alpha * x + (1 - alpha) * m[-1])
    result = indicators.ewma(prices, 3)["a"]
    assert result.iloc[:2].isna().all()  # fewer than `span` observations
    assert result.iloc[2:].tolist() == pytest.approx(m[2:], rel=1e-15)
    assert m[2] == pytest.approx(11.25)  # 0.5*12 + 0.5*(0.5*11 + 0.5*10)


def test_ewma_volatility_is_root_of_ewma_of_squares():
    changes = pd.DataFrame({"a": [np.nan, 1.0, -1.0, 2.0]})
    alpha = 2 / (2 + 1)
    v1 = 1.0
    v2 = alpha * 1.0 + (1 - alpha) * v1
    v3 = alpha * 4.0 + (1 - alpha) * v2
    result = indicators.ewma_volatility(changes, 2)["a"]
    assert result.iloc[2:].tolist() == pytest.approx([np.sqrt(v2), np.sqrt(v3)], rel=1e-15)


def test_return_volatility_of_alternating_returns_is_r_times_root_252():
    returns = np.tile([0.01, -0.01], 200)
    prices = pd.DataFrame({"a": 100 * np.cumprod(np.r_[1.0, 1 + returns])})
    vol = indicators.return_volatility(prices, 20)["a"].iloc[-1]
    assert vol == pytest.approx(0.01 * np.sqrt(252), rel=1e-12)


def test_rolling_zscore_agrees_with_talib():
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    window = 20
    mean = talib.SMA(close, window)
    population_std = talib.STDDEV(close, window, 1)
    sample_std = population_std * np.sqrt(window / (window - 1))
    expected = (close - mean) / sample_std
    result = indicators.rolling_zscore(pd.DataFrame({"a": close}), window)["a"].to_numpy()
    ok = ~np.isnan(expected)
    assert np.isnan(result[~ok]).all()
    np.testing.assert_allclose(result[ok], expected[ok], rtol=1e-7)


def test_ewma_after_warmup_agrees_with_talib_ema():
    # TA-Lib seeds its EMA with the SMA of the first `span` values; ours with the first
    # value. The seed's weight decays as (1-alpha)^n, so after ~40 spans they agree.
    rng = np.random.default_rng(3)
    close = 50 + np.cumsum(rng.normal(0, 1, 1000))
    ours = indicators.ewma(pd.DataFrame({"a": close}), 10)["a"].to_numpy()
    theirs = talib.EMA(close, 10)
    np.testing.assert_allclose(ours[500:], theirs[500:], rtol=1e-12)


def test_feature_names_are_checked():
    assert parse_feature("ewma:16") == ("ewma", 16)
    assert parse_feature("price") == ("price", None)
    for bad in ("ewma", "ewma:x", "nope:3", "zscore:1"):
        with pytest.raises(ValueError, match="unknown feature"):
            parse_feature(bad)


def test_price_is_forward_filled_at_most_five_sessions():
    raw = pd.DataFrame({"a": [1.0] + [np.nan] * 7})
    out = compute_features({"price"}, raw, raw)["price"]["a"]
    assert out.iloc[:6].tolist() == [1.0] * 6 and out.iloc[6:].isna().all()
