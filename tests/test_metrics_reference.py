"""Cross-check of macroquant.reports.metrics against empyrical (empyrical-reloaded 0.7.1).

Data: real daily returns from the bundled ``arch`` data sets (S&P 500 and NASDAQ adjusted
closes, 1999-2018, 5030 returns each). Agreement is 1e-9 relative wherever the two
libraries use the same convention. Where they differ, the difference is stated next to the
test and checked exactly:

- risk-free rate: ours is annual (divided by 252), empyrical's is per period;
- NaN returns: we drop them (they are not periods); empyrical's CAGR counts them as
  zero-return periods in the number of years;
- zero dispersion: our Sharpe/Sortino are NaN, empyrical's are inf;
- terminal wealth <= 0: our CAGR is -1, empyrical's is NaN (fractional power of a negative).

Metrics empyrical does not have (drawdown duration, hit rate, profit factor, turnover,
exposure) are checked against plain-Python loop implementations written here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

empyrical = pytest.importorskip("empyrical")

from macroquant.reports import metrics  # noqa: E402

RTOL = 1e-9


def _returns(module_name: str) -> pd.Series:
    import importlib

    data = importlib.import_module(f"arch.data.{module_name}").load()
    return data["Adj Close"].pct_change().dropna()


@pytest.fixture(scope="module")
def spx() -> pd.Series:
    return _returns("sp500")


@pytest.fixture(scope="module")
def ndx() -> pd.Series:
    return _returns("nasdaq")


def _windows(r: pd.Series) -> list[pd.Series]:
    """The full history, each calendar year, and a window starting on a losing day."""
    years = [r[r.index.year == y] for y in sorted(set(r.index.year))]
    first_loss = r.index[r.to_numpy() < 0][10]
    return [r, *years, r[first_loss:]]


def test_real_data_is_what_we_think(spx, ndx):
    assert len(spx) == 5030 and len(ndx) == 5030
    assert spx.index[0] == pd.Timestamp("1999-01-05")
    assert spx.index[-1] == pd.Timestamp("2018-12-31")


PAIRS = [
    ("total_return", lambda r: metrics.total_return(r), lambda r: empyrical.cum_returns_final(r)),
    ("cagr", metrics.cagr, empyrical.annual_return),
    ("annual_volatility", metrics.annual_volatility, empyrical.annual_volatility),
    ("sharpe", metrics.sharpe_ratio, empyrical.sharpe_ratio),
    ("sortino", metrics.sortino_ratio, empyrical.sortino_ratio),
    ("downside_deviation", metrics.downside_deviation, empyrical.downside_risk),
    ("max_drawdown", metrics.max_drawdown, empyrical.max_drawdown),
    ("calmar", metrics.calmar_ratio, empyrical.calmar_ratio),
]


@pytest.mark.parametrize("name,ours,theirs", PAIRS, ids=[p[0] for p in PAIRS])
@pytest.mark.parametrize("series", ["sp500", "nasdaq"])
def test_single_series_metrics_agree(name, ours, theirs, series, spx, ndx):
    r = spx if series == "sp500" else ndx
    for window in _windows(r):
        assert ours(window) == pytest.approx(float(theirs(window)), rel=RTOL, abs=0)


def test_full_history_figures(spx):
    """The headline S&P 500 numbers (pinned, and equal to empyrical's)."""
    m = metrics.compute_metrics(spx)
    assert m["total_return"] == pytest.approx(1.0412426895121283, rel=RTOL)
    assert m["cagr"] == pytest.approx(0.03639554326851813, rel=RTOL)
    assert m["annual_volatility"] == pytest.approx(0.19098207141371265, rel=RTOL)
    assert m["sharpe"] == pytest.approx(0.2827392290446074, rel=RTOL)
    assert m["sortino"] == pytest.approx(0.39861402985639793, rel=RTOL)
    assert m["max_drawdown"] == pytest.approx(-0.5677538775030555, rel=RTOL)
    assert m["calmar"] == pytest.approx(0.06410443805083878, rel=RTOL)
    assert m["days"] == 5030


def test_drawdown_series_agrees_date_by_date(spx):
    ours = metrics.drawdown_series(spx)
    theirs = empyrical.stats.drawdown_series(spx)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=RTOL, atol=0)


def test_drawdown_is_anchored_at_initial_wealth_in_both(spx):
    """Both libraries measure a loss on the first day as a drawdown from 1."""
    start = spx.index[spx.to_numpy() < 0][0]
    window = spx[start:].iloc[:5]
    assert metrics.drawdown_series(window).iloc[0] == pytest.approx(window.iloc[0], rel=RTOL)
    assert metrics.max_drawdown(window) == pytest.approx(empyrical.max_drawdown(window), rel=RTOL)


@pytest.mark.parametrize("rf", [0.0, 0.02, 0.05])
def test_risk_free_is_annual_here_and_per_period_in_empyrical(spx, rf):
    daily = rf / 252
    assert metrics.sharpe_ratio(spx, rf) == pytest.approx(
        empyrical.sharpe_ratio(spx, risk_free=daily), rel=RTOL)
    assert metrics.sortino_ratio(spx, rf) == pytest.approx(
        empyrical.sortino_ratio(spx, required_return=daily), rel=RTOL)
    assert metrics.downside_deviation(spx, rf) == pytest.approx(
        empyrical.downside_risk(spx, required_return=daily), rel=RTOL)


@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_beta_and_alpha_to_nasdaq_agree(spx, ndx, rf):
    both = pd.concat([spx, ndx], axis=1, join="inner").dropna()
    r, b = both.iloc[:, 0], both.iloc[:, 1]
    m = metrics.compute_metrics(spx, benchmark=ndx, risk_free_rate=rf)
    assert m["beta"] == pytest.approx(empyrical.beta(r, b, risk_free=rf / 252), rel=RTOL)
    assert m["alpha"] == pytest.approx(empyrical.alpha(r, b, risk_free=rf / 252), rel=RTOL)
    assert m["beta"] == pytest.approx(0.6693987025321273, rel=RTOL)


def test_beta_aligns_on_dates(spx, ndx):
    """A benchmark with missing and shuffled dates gives the beta of the common dates."""
    shuffled = ndx.iloc[::-1].drop(ndx.index[100:200])
    common = spx.drop(ndx.index[100:200])
    expected = empyrical.beta(common, ndx.drop(ndx.index[100:200]))
    assert metrics.beta(spx, shuffled) == pytest.approx(expected, rel=RTOL)


def test_nan_returns_are_dropped_here_but_counted_as_periods_by_empyrical(spx):
    r = spx.iloc[:500].copy()
    r.iloc[[3, 50, 400]] = np.nan
    clean = r.dropna()
    assert metrics.cagr(r) == pytest.approx(empyrical.annual_return(clean), rel=RTOL)
    # empyrical: (1 + total) ** (252 / 500) - 1, the three NaN days counted as zero returns.
    growth = 1 + metrics.total_return(r)
    assert empyrical.annual_return(r) == pytest.approx(growth ** (252 / 500) - 1, rel=RTOL)
    assert metrics.cagr(r) == pytest.approx(growth ** (252 / 497) - 1, rel=RTOL)
    # Statistics over values agree either way (empyrical uses nanmean / nanstd there).
    assert metrics.sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=RTOL)
    assert metrics.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=RTOL)
    assert metrics.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=RTOL)


def test_zero_dispersion_is_nan_here_and_inf_in_empyrical():
    flat = pd.Series([0.01] * 5)
    assert math.isnan(metrics.sharpe_ratio(flat)) and math.isinf(empyrical.sharpe_ratio(flat))
    up = pd.Series([0.01, 0.02, 0.0])
    assert math.isnan(metrics.sortino_ratio(up)) and math.isinf(empyrical.sortino_ratio(up))


def test_wiped_out_cagr_is_minus_one_here_and_nan_in_empyrical():
    r = pd.Series([-1.5, 0.1, 0.0, 0.0, 0.0])  # wealth ends at -0.55
    assert metrics.cagr(r) == -1.0
    with np.errstate(invalid="ignore"):
        assert math.isnan(empyrical.annual_return(r))


# --- metrics empyrical lacks: checked against plain loops over the real data -------------


def _loop_duration(returns: pd.Series) -> int:
    wealth, peak, peak_at, longest = 1.0, 1.0, 0, 0
    for t, x in enumerate(returns, start=1):
        wealth *= 1 + x
        if wealth >= peak:
            if peak_at < t - 1:  # a drawdown just recovered
                longest = max(longest, t - peak_at)
            peak, peak_at = wealth, t
        else:
            longest = max(longest, t - peak_at)
    return longest


def test_hit_rate_profit_factor_and_duration_match_plain_loops(spx, ndx):
    for r in [*_windows(spx), *_windows(ndx)]:
        values = list(r)
        wins = sum(1 for x in values if x > 0)
        losses = sum(1 for x in values if x < 0)
        assert metrics.hit_rate(r) == pytest.approx(wins / (wins + losses), rel=RTOL)
        gain = sum(x for x in values if x > 0)
        loss = -sum(x for x in values if x < 0)
        assert metrics.profit_factor(r) == pytest.approx(gain / loss, rel=RTOL)
        assert metrics.max_drawdown_duration(r) == _loop_duration(values)


def test_sp500_drawdown_duration_is_the_2000_to_2007_episode(spx):
    # Peak 2000-03-24, recovered (on adjusted closes) 1803 trading days later.
    assert metrics.max_drawdown_duration(spx) == 1803
    wealth = (1 + spx).cumprod()
    peak_day = wealth[:"2001"].idxmax()
    assert peak_day == pd.Timestamp("2000-03-24")
    after = wealth[peak_day:]
    recovery = after.index[1:][after.iloc[1:].to_numpy() >= after.iloc[0]][0]
    assert spx.index.get_loc(recovery) - spx.index.get_loc(peak_day) == 1803


def test_turnover_and_exposure_on_a_real_trend_rule(spx):
    """Long when the price is above its 200-day mean, flat otherwise."""
    price = (1 + spx).cumprod()
    weight = (price > price.rolling(200).mean()).astype(float)[199:]
    changes = [abs(a - b) for a, b in zip(list(weight)[1:], list(weight)[:-1], strict=True)]
    assert metrics.turnover(weight) == pytest.approx(sum(changes) / len(changes), rel=RTOL)
    assert metrics.exposure(weight) == pytest.approx(sum(weight) / len(weight), rel=RTOL)
    assert metrics.time_in_market(weight) == pytest.approx(sum(weight) / len(weight), rel=RTOL)
