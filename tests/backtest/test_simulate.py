"""The fill/cash loop: hand-computed cases and accounting invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from macroquant.backtest.costs import BacktestCosts
from macroquant.backtest.simulate import simulate
from macroquant.execution.costs import CostModel


def test_buy_then_sell_all_equity_with_commission_by_hand():
    weights = np.array([[0.0], [1.0], [1.0], [0.0], [0.0]])
    prices = np.array([[10.0], [11.0], [12.0], [13.0], [14.0]])
    result = simulate(weights, prices, prices, capital=100.0, commission_rate=0.001)
    # Decided at row 1's close, filled at row 2's price 12: 100 / (12 * 1.001) shares.
    shares = 100.0 / 12.012
    assert result.trades["row"].tolist() == [2, 4]
    np.testing.assert_allclose(result.trades["quantity"], [shares, -shares], rtol=1e-14)
    np.testing.assert_allclose(result.trades["commission"], [shares * 12 * 0.001,
                                                             shares * 14 * 0.001], rtol=1e-14)
    np.testing.assert_allclose(result.equity[:, 0],
                               [100, 100, shares * 12, shares * 13, shares * 14 * 0.999],
                               rtol=1e-12)
    assert result.equity[2, 0] == pytest.approx(99.9000999000999, rel=1e-12)
    assert result.equity[4, 0] == pytest.approx(116.43356643356643, rel=1e-12)
    assert abs(result.cash[2, 0]) < 1e-9


def test_slippage_spread_and_per_share_commission_by_hand():
    costs = BacktestCosts(commission_bps=5, slippage_bps=10, spread_bps=20,
                          commission_per_share=0.01)
    # The shared bps model is the paper broker's CostModel, with half the spread added.
    assert costs.shared_model == CostModel(commission_bps=5, slippage_bps=20)
    buy = float(costs.fill_price(np.array(50.0), 1.0))
    assert buy == pytest.approx(50.0 * 1.002)
    weights = np.array([[1.0], [1.0], [0.0], [0.0]])
    prices = np.array([[50.0], [50.0], [50.0], [50.0]])
    result = simulate(weights, prices, prices, capital=10_000.0,
                      buy_factor=float(costs.fill_price(np.array(1.0), 1.0)),
                      sell_factor=float(costs.fill_price(np.array(1.0), -1.0)),
                      commission_rate=costs.commission_rate, commission_per_share=0.01)
    # Buy: 10,000 = q * (50.1 * 1.0005 + 0.01) -> q = 199.5608...
    q = 10_000.0 / (50.1 * 1.0005 + 0.01)
    assert result.trades["quantity"][0] == pytest.approx(q, rel=1e-12)
    assert result.trades["price"].tolist() == pytest.approx([50.1, 49.9])
    np.testing.assert_allclose(result.trades["commission"],
                               costs.commission(np.array([q, q]), np.array([50.1, 49.9])))
    # Sell everything at 49.9 less 5 bps and 1 cent a share.
    assert result.equity[-1, 0] == pytest.approx(q * 49.9 * (1 - 0.0005) - q * 0.01, rel=1e-12)


def test_participation_cap_leaves_the_rest_pending():
    weights = np.array([[1.0], [1.0], [1.0], [1.0]])
    prices = np.full((4, 1), 10.0)
    cap = np.full((4, 1), 40.0)          # at most 40 shares a bar
    result = simulate(weights, prices, prices, capital=1_000.0, fill_cap=cap)
    # 100 shares wanted at row 1: 40, 40, then the remaining 20 (re-sized on equity).
    assert result.trades["row"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(result.trades["quantity"], [40, 40, 20])


def test_sells_fill_before_buys_and_buys_stay_within_cash():
    # Rotate all equity from column 0 to column 1 on one bar, 1 % commission.
    weights = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    prices = np.array([[10.0, 20.0], [10.0, 20.0], [10.0, 20.0]])
    result = simulate(weights, prices, prices, capital=1_000.0, commission_rate=0.01)
    first = 1_000.0 / 10.1
    after_sale = first * 10 * 0.99
    assert result.trades["column"].tolist() == [0, 0, 1]
    assert result.trades["quantity"][2] == pytest.approx(after_sale / 20.2, rel=1e-12)
    assert result.cash[-1, 0] >= -1e-9


def test_next_bar_without_price_waits_for_a_price():
    weights = np.array([[1.0], [1.0], [1.0]])
    prices = np.array([[10.0], [np.nan], [11.0]])
    result = simulate(weights, prices, prices, capital=110.0)
    assert result.trades["row"].tolist() == [2]
    assert result.trades["quantity"][0] == pytest.approx(10.0)


def test_weights_with_nan_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        simulate(np.array([[np.nan]]), np.array([[1.0]]), np.array([[1.0]]), capital=1.0)


@settings(max_examples=60, deadline=None)
@given(
    weights=arrays(np.float64, (30, 3), elements=st.sampled_from([-0.5, 0.0, 0.25, 0.5, 1.0])),
    steps=arrays(np.float64, (30, 3), elements=st.floats(-0.08, 0.08)),
    commission=st.sampled_from([0.0, 0.001, 0.01]),
    leverage=st.booleans(),
)
def test_accounting_identity_and_cash(weights, steps, commission, leverage):
    """Equity is cash plus positions at the close; cash moves only by fills; without
    leverage a long-only book never borrows."""
    close = 100.0 * np.exp(np.cumsum(steps, axis=0))
    if not leverage:
        weights = np.abs(weights) / np.maximum(np.abs(weights).sum(axis=1, keepdims=True), 1.0)
    result = simulate(weights, close, close, capital=1_000.0, commission_rate=commission,
                      allow_leverage=leverage)
    np.testing.assert_allclose(result.equity[:, 0],
                               result.cash[:, 0] + (result.positions * close).sum(axis=1),
                               rtol=1e-9, atol=1e-9)
    t = result.trades
    flows = -(t["quantity"] * t["price"]) - t["commission"]
    cash_change = np.zeros(30)
    np.add.at(cash_change, t["row"], flows)
    np.testing.assert_allclose(1_000.0 + np.cumsum(cash_change), result.cash[:, 0], atol=1e-8)
    held = np.zeros((30, 3))
    np.add.at(held, (t["row"], t["column"]), t["quantity"])
    np.testing.assert_allclose(np.cumsum(held, axis=0), result.positions, atol=1e-9)
    if not leverage:
        assert result.cash.min() >= -1e-9
