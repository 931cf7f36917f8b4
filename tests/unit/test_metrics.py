"""Metrics on hand-computed series, and property tests (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from macroquant.reports import metrics


def test_metrics_by_hand():
    r = pd.Series([0.10, -0.20, 0.05])
    assert metrics.total_return(r) == pytest.approx(1.1 * 0.8 * 1.05 - 1)
    mean, std = r.mean(), math.sqrt(((r - r.mean()) ** 2).sum() / 2)
    assert metrics.sharpe_ratio(r) == pytest.approx(mean / std * math.sqrt(252))
    assert metrics.annual_volatility(r) == pytest.approx(std * math.sqrt(252))
    # wealth 1.1, 0.88, 0.924; peak 1.1 -> worst 0.88/1.1 - 1 = -0.2
    assert metrics.max_drawdown(r) == pytest.approx(-0.2)
    assert metrics.cagr(r) == pytest.approx((0.924) ** (252 / 3) - 1)


def test_drawdown_from_a_first_day_loss_counts_from_the_start():
    assert metrics.max_drawdown(pd.Series([-0.1, 0.05])) == pytest.approx(-0.1)


def test_flat_series_has_no_sharpe():
    assert np.isnan(metrics.sharpe_ratio(pd.Series([0.0, 0.0, 0.0])))


def test_sortino_and_calmar_by_hand():
    r = pd.Series([0.10, -0.20, 0.05])
    # Only -0.20 is below 0; the mean of squared shortfalls runs over all 3 periods.
    downside = math.sqrt(0.04 / 3) * math.sqrt(252)
    assert metrics.downside_deviation(r) == pytest.approx(downside, rel=1e-12)
    assert metrics.sortino_ratio(r) == pytest.approx((-0.05 / 3) * 252 / downside, rel=1e-12)
    assert metrics.calmar_ratio(r) == pytest.approx((0.924 ** 84 - 1) / 0.2, rel=1e-12)


def test_risk_free_rate_is_annual_and_divided_by_252():
    r = pd.Series([0.01, -0.01, 0.02])
    rf = 0.0252  # 0.0001 a day
    excess = [0.0099, -0.0101, 0.0199]
    mean = sum(excess) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in excess) / 2)
    assert metrics.sharpe_ratio(r, rf) == pytest.approx(mean / std * math.sqrt(252), rel=1e-12)
    downside = math.sqrt(0.0101**2 / 3) * math.sqrt(252)
    assert metrics.sortino_ratio(r, rf) == pytest.approx(mean * 252 / downside, rel=1e-12)


@pytest.mark.parametrize(
    "returns,expected",
    [
        ([0.1, -0.1, -0.1, 0.3], 3),  # peak after day 1, recovered on day 4
        ([0.1, -0.1, 0.05], 2),  # peak after day 1, still under water at day 3
        ([-0.1, 0.2], 2),  # the initial wealth of 1 is the first peak
        ([0.01, 0.02], 0),  # never under water
        ([-0.1, 0.2, -0.01, -0.01, -0.01, 0.5], 4),  # the second drawdown is longer
        ([], 0),
    ],
)
def test_max_drawdown_duration_by_hand(returns, expected):
    assert metrics.max_drawdown_duration(pd.Series(returns, dtype=float)) == expected


def test_hit_rate_and_profit_factor_by_hand():
    r = pd.Series([0.1, 0.0, -0.1, 0.2, np.nan])
    assert metrics.hit_rate(r) == pytest.approx(2 / 3)
    assert metrics.profit_factor(pd.Series([0.1, -0.05, 0.2, -0.1])) == pytest.approx(2.0)
    assert metrics.profit_factor(pd.Series([0.1, 0.0])) == math.inf
    assert math.isnan(metrics.profit_factor(pd.Series([0.0, 0.0])))
    assert math.isnan(metrics.hit_rate(pd.Series([0.0, np.nan])))


def test_turnover_exposure_and_time_in_market_by_hand():
    w = pd.DataFrame({"SPY": [0.5, 1.0, 1.0, 0.0, 0.0], "TLT": [0.5, 0.0, 0.0, -0.5, 0.0]})
    # |dw| summed over instruments: 1.0, 0.0, 1.5, 0.5 -> mean 0.75
    assert metrics.turnover(w) == pytest.approx(0.75)
    # gross exposure 1, 1, 1, 0.5, 0 -> 0.7; invested on 4 of 5 days
    assert metrics.exposure(w) == pytest.approx(0.7)
    assert metrics.time_in_market(w) == pytest.approx(0.8)
    # a missing weight is no position; an all-missing date is dropped
    w2 = pd.DataFrame({"SPY": [1.0, np.nan, np.nan], "TLT": [np.nan, np.nan, 1.0]})
    assert metrics.turnover(w2) == pytest.approx(2.0)
    assert metrics.exposure(pd.Series([1.0, -2.0, 0.0])) == pytest.approx(1.0)
    assert math.isnan(metrics.turnover(pd.Series([1.0])))


def test_beta_and_alpha_by_hand():
    idx = pd.date_range("2020-01-01", periods=4)
    b = pd.Series([0.01, -0.02, 0.03, 0.0], index=idx)
    r = 2 * b + 0.001
    assert metrics.beta(r, b) == pytest.approx(2.0, rel=1e-12)
    assert metrics.alpha(r, b) == pytest.approx(1.001**252 - 1, rel=1e-9)
    # with rf: r - rf_d = 2 (b - rf_d) + (0.001 + rf_d)
    rf_d = 0.0001
    assert metrics.alpha(r, b, rf_d * 252) == pytest.approx((1.001 + rf_d) ** 252 - 1, rel=1e-9)
    assert math.isnan(metrics.beta(r, pd.Series(0.01, index=idx)))


def test_compute_metrics_keys_are_stable():
    r = pd.Series([0.01, -0.02, 0.015])
    m = metrics.compute_metrics(r)
    assert tuple(m) == metrics.METRIC_KEYS
    assert math.isnan(m["beta"]) and math.isnan(m["alpha"]) and m["days"] == 3
    m = metrics.compute_metrics(r, positions=pd.Series([1.0, 1.0, 0.0]))
    assert tuple(m) == metrics.METRIC_KEYS + metrics.POSITION_KEYS
    assert m["turnover"] == pytest.approx(0.5) and m["exposure"] == pytest.approx(2 / 3)


def test_missing_returns_are_dropped():
    r = pd.Series([0.01, np.nan, -0.02, 0.03, np.nan])
    with_nan, without = metrics.compute_metrics(r), metrics.compute_metrics(r.dropna())
    assert with_nan == pytest.approx(without, nan_ok=True)
    assert with_nan["days"] == 3
    assert metrics.summary(r) == pytest.approx(metrics.summary(r.dropna()))


def test_empty_series():
    m = metrics.compute_metrics(pd.Series([], dtype=float))
    assert m["total_return"] == 0.0 and m["max_drawdown"] == 0.0 and m["days"] == 0
    assert all(math.isnan(m[k]) for k in ("cagr", "sharpe", "sortino", "calmar", "hit_rate"))


# --- properties ----------------------------------------------------------------------------

# daily returns to 1e-10 (real return data has no subnormal floats)
daily = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False).map(lambda x: round(x, 10))
series = st.lists(daily, min_size=2, max_size=60).map(lambda xs: pd.Series(xs, dtype=float))


def _loop_duration(values: list[float]) -> int:
    wealth, peak, peak_at, longest = 1.0, 1.0, 0, 0
    for t, x in enumerate(values, start=1):
        wealth *= 1 + x
        if wealth >= peak:
            if peak_at < t - 1:
                longest = max(longest, t - peak_at)
            peak, peak_at = wealth, t
        else:
            longest = max(longest, t - peak_at)
    return longest


@settings(deadline=None)
@given(series, st.floats(min_value=0.1, max_value=10.0))
def test_scaling_returns_scales_volatility_and_keeps_sharpe(r, k):
    vol = metrics.annual_volatility(r)
    assume(vol > 1e-6)
    assert metrics.annual_volatility(k * r) == pytest.approx(k * vol, rel=1e-9)
    assert metrics.sharpe_ratio(k * r) == pytest.approx(metrics.sharpe_ratio(r), rel=1e-9)
    sortino = metrics.sortino_ratio(r)
    if not math.isnan(sortino):
        assert metrics.sortino_ratio(k * r) == pytest.approx(sortino, rel=1e-9)
    assert metrics.hit_rate(k * r) == metrics.hit_rate(r)


@settings(deadline=None)
@given(series)
def test_drawdown_bounds_and_duration(r):
    mdd = metrics.max_drawdown(r)
    duration = metrics.max_drawdown_duration(r)
    assert -1.0 <= mdd <= 0.0
    assert 0 <= duration <= len(r)
    assert duration == _loop_duration(list(r))
    assert (duration == 0) == (mdd == 0.0)
    assert metrics.drawdown_series(r).min() == pytest.approx(mdd)


# small daily returns so that (1 + cagr) stays representable (|log growth| <= 2.6 a year)
calm = st.lists(st.floats(min_value=-0.01, max_value=0.01).map(lambda x: round(x, 10)),
                min_size=1, max_size=300).map(lambda xs: pd.Series(xs, dtype=float))


@settings(deadline=None)
@given(calm)
def test_cagr_compounds_back_to_total_return(r):
    total = metrics.total_return(r)
    growth = (1 + metrics.cagr(r)) ** (len(r) / 252)
    assert growth == pytest.approx(1 + total, rel=1e-9)


@settings(deadline=None)
@given(series, st.floats(min_value=-0.001, max_value=0.001))
def test_shifting_returns_by_the_daily_risk_free_rate_keeps_sharpe(r, c):
    assume(metrics.annual_volatility(r) > 1e-6)
    assert metrics.sharpe_ratio(r + c, risk_free_rate=c * 252) == pytest.approx(
        metrics.sharpe_ratio(r), rel=1e-6, abs=1e-9)


@settings(deadline=None)
@given(series, st.floats(min_value=-3.0, max_value=3.0), st.floats(min_value=0.1, max_value=5))
def test_beta_of_a_leveraged_benchmark(b, lev, k):
    assume(b.std() > 1e-4)
    assert metrics.beta(lev * b, b) == pytest.approx(lev, rel=1e-9, abs=1e-9)
    assert metrics.beta(k * lev * b, b) == pytest.approx(k * lev, rel=1e-9, abs=1e-9)
    pf = metrics.profit_factor(b)
    assert math.isnan(pf) or pf >= 0
