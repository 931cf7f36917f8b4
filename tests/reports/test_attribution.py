"""Attribution: hand-computed cases, the Euler identity, and parts that add up on a real run."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from macroquant.pipeline.runner import run_pipeline
from macroquant.reports.attribution import (
    RESIDUAL,
    attribution_table,
    group_columns,
    instrument_pnl,
    risk_contribution,
    strategy_attribution,
)
from macroquant.reports.attribution_data import load_attribution

DAYS = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"])


def test_instrument_pnl_hand_computed():
    # Day 1: buy 10 AAA at 100 (commission 1) -> MV 1010 at the close (price 101).
    # Day 2: price 103 -> MV 1030. Day 3: sell all 10 at 104 (commission 1) -> flat.
    values = pd.DataFrame({"AAA": [1010.0, 1030.0, np.nan]}, index=DAYS)
    trades = pd.DataFrame({
        "trade_date": [DAYS[0], DAYS[2]], "symbol": ["AAA", "AAA"], "side": ["buy", "sell"],
        "quantity": [10.0, 10.0], "price": [100.0, 104.0], "commission": [1.0, 1.0]})
    pnl = instrument_pnl(values, trades)
    # day 1: 1010 - 0 - 1000 - 1 = 9; day 2: 20; day 3: 0 - 1030 + 1040 - 1 = 9
    assert pnl["AAA"].tolist() == [9.0, 20.0, 9.0]
    assert pnl["AAA"].sum() == 10 * (104 - 100) - 2


def test_instrument_pnl_uses_opening_values_and_rejects_stray_trades():
    values = pd.DataFrame({"BBB": [-500.0, -450.0, -450.0]}, index=DAYS)
    pnl = instrument_pnl(values, pd.DataFrame(), pd.Series({"BBB": -520.0}))
    assert pnl["BBB"].tolist() == [20.0, 50.0, 0.0]
    stray = pd.DataFrame({"trade_date": ["2024-01-09"], "symbol": ["BBB"], "side": ["buy"],
                          "quantity": [1.0], "price": [1.0], "commission": [0.0]})
    with pytest.raises(ValueError, match="2024-01-09"):
        instrument_pnl(values, stray)


def test_grouping_and_strategy_residual():
    pnl = pd.DataFrame({"SPX": [1.0, 2.0, 3.0], "AAPL": [4.0, 5.0, 6.0],
                        "EURUSD": [-1.0, 0.0, 1.0]}, index=DAYS)
    grouped = group_columns(pnl, {"SPX": "equity_index", "AAPL": "single_stock"})
    assert grouped["unknown"].tolist() == [-1.0, 0.0, 1.0]
    assert grouped.sum(axis=1).tolist() == pnl.sum(axis=1).tolist()
    strategies = pd.DataFrame({"trend": [1.0, 1.0, 1.0]}, index=DAYS)
    split = strategy_attribution(strategies, pd.Series([0.5, 2.0, 1.0], index=DAYS))
    assert split[RESIDUAL].tolist() == [-0.5, 1.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (30, 4), elements=st.floats(-1e4, 1e4, allow_nan=False)))
def test_risk_contributions_add_up_to_total_volatility(values):
    frame = pd.DataFrame(values, columns=list("abcd"))
    result = risk_contribution(frame)
    total_vol = frame.sum(axis=1).std(ddof=1) * np.sqrt(252)
    assert result["volatility_contribution"].sum() == pytest.approx(total_vol, rel=1e-9,
                                                                      abs=1e-6)
    if total_vol > 1e-6:
        # independent check: numpy's covariance matrix, w = 1 for each component
        cov = np.cov(values, rowvar=False, ddof=1)
        expected = cov.sum(axis=1) / np.sqrt(cov.sum()) * np.sqrt(252)
        np.testing.assert_allclose(result["volatility_contribution"], expected,
                                   rtol=1e-7, atol=1e-6)


def test_attribution_table_totals():
    daily = pd.DataFrame({"a": [1.0, -2.0, 3.0], "b": [1.0, 1.0, 1.0]}, index=DAYS)
    table = attribution_table(daily)
    assert table.loc["total", "pnl"] == 5.0
    assert table.loc["a", "pnl_share"] == pytest.approx(0.4)
    # b is constant: no covariance with the total, so all the risk is a's
    assert table.loc["b", "volatility_share"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["a", "volatility_share"] == pytest.approx(1.0)


def test_pnl_share_keeps_winners_positive_when_the_total_is_a_loss():
    # a wins 10, b loses 30: the total is -20 over a gross P&L of 40
    daily = pd.DataFrame({"a": [10.0, 0.0, 0.0], "b": [-10.0, -10.0, -10.0]}, index=DAYS)
    table = attribution_table(daily)
    assert table.loc["a", "pnl_share"] == pytest.approx(0.25)
    assert table.loc["b", "pnl_share"] == pytest.approx(-0.75)
    assert table.loc["total", "pnl_share"] == pytest.approx(-0.5)
    assert table.loc["total", "pnl"] == -20.0


def test_parts_add_up_to_the_portfolio_on_a_real_run(loaded_settings):
    start, end = date(2012, 10, 1), date(2012, 10, 31)
    run_pipeline(start, end, "attribution", loaded_settings)
    with psycopg.connect(loaded_settings.database_url) as conn:
        result = load_attribution(conn, date(2012, 10, 8), end)
    assert len(result.portfolio_pnl) > 10
    for split in (result.by_instrument, result.by_asset_class, result.by_strategy,
                  result.by_signal_type):
        np.testing.assert_allclose(split.sum(axis=1).to_numpy(),
                                   result.portfolio_pnl.to_numpy(), rtol=0, atol=1e-6)
    assert set(result.by_signal_type.columns) == {"trend_following", "mean_reversion", RESIDUAL}
    tables = result.tables()
    assert tables["asset_class"].loc["total", "pnl"] == pytest.approx(
        result.portfolio_pnl.sum(), abs=1e-6)
