"""A paused strategy's positions are held (its last targets carried forward), and the
allocation across strategies keeps updating while one of them has no unit returns."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psycopg
import pytest

from macroquant.auth.strategy_controls import set_paused
from macroquant.config.settings import PortfolioConfig
from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.runner import run_stage
from macroquant.portfolio.book import hold_paused
from macroquant.portfolio.construction import strategy_weights

D1, D2, D3 = (pd.Timestamp(d) for d in ("2012-03-01", "2012-03-02", "2012-03-05"))


def _target(day, strategy_id, symbol, strength, price, vol, quantity):
    return {"as_of": day, "strategy_id": strategy_id, "symbol": symbol,
            "signal_strength": strength, "price": price, "instrument_volatility": vol,
            "target_notional": quantity * price, "target_quantity": quantity}


def test_hold_paused_carries_quantities_at_each_dates_price():
    # strategy 2 is paused: held rows of its last session before the window (2012-02-29)
    held = pd.DataFrame({"strategy": ["rev", "rev", "rev"], "symbol": ["A", "B", "GONE"],
                         "signal_strength": [0.5, -0.25, 1.0], "price": [10.0, 20.0, 5.0],
                         "instrument_volatility": [0.2, 0.3, 0.1],
                         "target_quantity": [100.0, -40.0, 7.0]})
    # strategy 1 (active) has its own rows; strategy 2 has a row of its own only on D3
    targets = pd.DataFrame([_target(D1, 1, "A", 1.0, 11.0, 0.2, 5.0),
                            _target(D3, 2, "A", -1.0, 12.0, 0.2, -30.0)])
    prices = pd.DataFrame({"A": [11.0, np.nan], "B": [21.0, 22.0]}, index=[D1, D2])
    vol = pd.DataFrame({"A": [0.21, 0.22], "B": [0.31, np.nan]}, index=[D1, D2])
    out = hold_paused(targets, held, {"rev": (2, ["A", "B"])}, [D1, D2, D3], prices, vol)
    rev = out[out["strategy_id"] == 2].sort_values(["as_of", "symbol"]).reset_index(drop=True)
    expected = pd.DataFrame([
        # D1: the held quantities at D1's prices and volatilities ("GONE" left the universe)
        _target(D1, 2, "A", 0.5, 11.0, 0.21, 100.0),
        _target(D1, 2, "B", -0.25, 21.0, 0.31, -40.0),
        # D2: A has no price that day, B no volatility: the carried values stand in
        _target(D2, 2, "A", 0.5, 11.0, 0.22, 100.0),
        _target(D2, 2, "B", -0.25, 22.0, 0.31, -40.0),
        # D3: the strategy's own row (a signal written before the pause) is kept as is
        _target(D3, 2, "A", -1.0, 12.0, 0.2, -30.0)])
    pd.testing.assert_frame_equal(rev[expected.columns], expected, check_dtype=False)
    assert rev["target_notional"].tolist() == [1100.0, -840.0, 1100.0, -880.0, -360.0]
    # the active strategy's rows are untouched
    assert out[out["strategy_id"] == 1].to_dict("records") == [
        _target(D1, 1, "A", 1.0, 11.0, 0.2, 5.0)]


def test_hold_paused_without_earlier_targets_holds_nothing():
    targets = pd.DataFrame([_target(D1, 1, "A", 1.0, 11.0, 0.2, 5.0)])
    out = hold_paused(targets, pd.DataFrame(columns=["strategy", "symbol", "signal_strength",
                                                     "price", "instrument_volatility",
                                                     "target_quantity"]),
                      {"rev": (2, ["A"])}, [D1], pd.DataFrame(), pd.DataFrame())
    pd.testing.assert_frame_equal(out, targets)


# ------------------------------------------------------------------ allocation (bug fix)
def _alternating(n: int, size: float, period: int) -> np.ndarray:
    """``+size`` / ``-size`` in blocks of ``period // 2``: mean 0 over multiples of period."""
    return np.array([size if (k % period) < period // 2 else -size for k in range(n)])


def test_a_strategy_without_returns_keeps_its_weight_and_the_others_are_estimated():
    # 28 days; A = ±1% alternating daily, B = ±2% in blocks of two: means 0, cov(A, B) = 0.
    # C was paused 18 days ago: 10 unit returns < min_observations 20, so C keeps its
    # configured 0.2 and A, B split their 0.8 by inverse volatility over all 28 days:
    # sigma_A = 0.01 sqrt(28/27), sigma_B = 0.02 sqrt(28/27) -> 2/3 and 1/3 of 0.8.
    # (Complete cases would leave 10 days < 20: the old code kept [0.4, 0.4, 0.2].)
    history = pd.DataFrame({"A": _alternating(28, 0.01, 2), "B": _alternating(28, 0.02, 4),
                            "C": np.r_[_alternating(10, 0.01, 2), [np.nan] * 18]})
    config = PortfolioConfig(allocation="inverse_volatility", min_observations=20,
                             correlation_lookback=28)
    weights = strategy_weights(history, np.array([0.4, 0.4, 0.2]), config)
    np.testing.assert_allclose(weights, [0.8 * 2 / 3, 0.8 / 3, 0.2], rtol=1e-12)


def test_pairwise_estimate_uses_each_strategys_own_days():
    # C is missing its last 4 days but has 24 >= 20: every strategy is estimated, each
    # variance on its own days. A: 28 days of ±1% -> var 28e-4/27; B: ±2% -> 4x that;
    # C: 24 days of ±3% in blocks of 4 (mean 0) -> var 24 * 9e-4 / 23.
    # Inverse volatility: w ∝ 1/sigma, total 1 (configured total).
    history = pd.DataFrame({"A": _alternating(28, 0.01, 2), "B": _alternating(28, 0.02, 4),
                            "C": np.r_[_alternating(24, 0.03, 8), [np.nan] * 4]})
    config = PortfolioConfig(allocation="inverse_volatility", min_observations=20,
                             correlation_lookback=28)
    sigma = np.sqrt([28e-4 / 27, 4 * 28e-4 / 27, 24 * 9e-4 / 23])
    expected = (1 / sigma) / (1 / sigma).sum()
    weights = strategy_weights(history, np.array([0.4, 0.4, 0.2]), config)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    # complete cases (the old dropna) would measure A and B on C's 24 days only
    complete = 1 / np.sqrt([24e-4 / 23, 4 * 24e-4 / 23, 24 * 9e-4 / 23])
    assert abs(weights[2] - complete[2] / complete.sum()) > 1e-4


def test_one_estimable_strategy_keeps_the_configured_weights():
    history = pd.DataFrame({"A": _alternating(28, 0.01, 2), "B": [np.nan] * 28})
    config = PortfolioConfig(allocation="risk_parity", min_observations=20)
    np.testing.assert_allclose(strategy_weights(history, np.array([0.3, 0.1]), config),
                               [0.75, 0.25])


# ------------------------------------------------------------------ the stage, end to end
PAUSED = "zscore_reversion"
AT = datetime(2012, 10, 1, 22, 0, tzinfo=UTC)
DAY1, DAY2, DAY3 = date(2012, 10, 1), date(2012, 10, 2), date(2012, 10, 3)
TARGETS = """SELECT t.as_of, i.symbol, t.signal_strength, t.price, t.target_quantity,
                    t.target_notional
             FROM targets t JOIN strategies st USING (strategy_id)
             JOIN instruments i USING (instrument_id)
             WHERE st.name = %s ORDER BY t.as_of, i.symbol"""


def _stages(settings, start: date, end: date, run_id: str) -> None:
    for stage in ("ingest", "validate", "features", "signals", "portfolio"):
        run_stage(stage, start, end, run_id, settings)


def _targets(url: str, name: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        return read_frame(conn, TARGETS, (name,))


@pytest.fixture
def paused_after_day1(loaded_settings):
    _stages(loaded_settings, DAY1, DAY1, "d1")
    with transaction(loaded_settings.database_url) as conn:
        set_paused(conn, PAUSED, True, actor="trader", role="trader", at=AT, reason="review")
    return loaded_settings


def test_paused_strategy_holds_its_targets_daily_and_in_one_window(paused_after_day1):
    settings, url = paused_after_day1, paused_after_day1.database_url
    for day in (DAY2, DAY3):
        _stages(settings, day, day, f"daily-{day}")
    daily = _targets(url, PAUSED)
    first = daily[daily["as_of"] == DAY1].set_index("symbol")
    # 7 instruments, 4 with a position (the 3 FX rates have strength 0 on DAY1)
    assert len(first) == 7 and (first["target_quantity"] != 0).sum() == 4
    with psycopg.connect(url) as conn:
        prices = read_frame(conn, """SELECT f.as_of, i.symbol, f.value FROM features f
                                     JOIN instruments i USING (instrument_id)
                                     WHERE f.feature = 'price' AND f.as_of IN (%s, %s)""",
                            (DAY2, DAY3)).set_index(["as_of", "symbol"])["value"]
    for day in (DAY2, DAY3):
        held = daily[daily["as_of"] == day].set_index("symbol")
        # same instruments, quantities and signal strengths as on DAY1; that day's price
        pd.testing.assert_series_equal(held["target_quantity"], first["target_quantity"])
        pd.testing.assert_series_equal(held["signal_strength"], first["signal_strength"])
        np.testing.assert_allclose(held["price"], prices.loc[day].reindex(held.index))
        np.testing.assert_allclose(held["target_notional"],
                                   held["target_quantity"] * held["price"])
    # the same two sessions as one window (backfill) and then again (rerun) agree
    for run in ("backfill", "rerun"):
        run_stage("portfolio", DAY2, DAY3, run, settings)
        pd.testing.assert_frame_equal(_targets(url, PAUSED), daily)


def test_construct_keeps_estimating_while_one_strategy_is_paused():
    from macroquant.portfolio.construction import ConstructionInputs, construct

    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2012-01-02", periods=80)
    returns = pd.DataFrame(rng.normal(0, 0.01, (80, 3)), index=dates, columns=["X", "Y", "Z"])
    ones = pd.DataFrame(1.0, index=dates, columns=["X", "Y", "Z"])
    paused = ones[["Z"]].copy()
    paused.iloc[50:] = np.nan                                   # C paused from day 50 on
    strengths = {"A": ones[["X"]], "B": ones[["Y"]] * -1.0, "C": paused}
    inputs = ConstructionInputs(strengths=strengths, volatility=ones * 0.16, returns=returns,
                                universes={"A": ["X"], "B": ["Y"], "C": ["Z"]},
                                weights=pd.Series({"A": 0.4, "B": 0.4, "C": 0.2}))
    config = PortfolioConfig(allocation="inverse_volatility", min_observations=20,
                             correlation_lookback=40)
    _, _, diagnostics = construct(inputs, list(dates[-5:]), capital=1e6, config=config)
    # C's last unit return is on day 50 (signal of day 49): the 40-day lookbacks ending on
    # days 75..79 hold 15..11 of them < 20 -> C keeps its configured 0.2
    assert (diagnostics["weight:C"] == 0.2).all()
    # A and B are re-estimated every day on their own (rolling) 40 days: the weights move
    assert diagnostics["weight:A"].nunique() == 5
    np.testing.assert_allclose(diagnostics["weight:A"] + diagnostics["weight:B"], 0.8)
