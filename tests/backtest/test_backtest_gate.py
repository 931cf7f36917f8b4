"""Backtest orders through the pre-trade order gate (macroquant.backtest.gated)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from macroquant.backtest.engine import options_for, run_backtest
from macroquant.backtest.gated import gate_instruments, simulate_gated
from macroquant.backtest.simulate import simulate
from macroquant.config.settings import TradingConfig
from macroquant.risk.order_gate import RiskLimits

DATES = pd.bdate_range("2020-01-01", periods=3)
SYMBOLS = pd.Index(["AAA"])
LOOSE = dict(max_order_notional=1e12, max_position_notional=1e12,
             max_strategy_position_notional=1e12, max_gross_leverage=10.0,
             max_net_leverage=10.0, price_collar=0.1, max_orders_per_day=200)


def _run(prices: list[float], **limits: float):
    values = np.array(prices)[:, None]
    weights = np.ones_like(values)   # all equity in AAA from the first close on
    return simulate_gated(weights, values, values, capital=1_000_000.0, symbols=SYMBOLS,
                          dates=DATES[: len(prices)], instruments=gate_instruments(SYMBOLS),
                          limits=RiskLimits(**{**LOOSE, **limits}))


def test_position_limit_cuts_the_first_buy_to_300000_by_hand():
    sim, events = _run([100.0, 100.0, 110.0], max_position_notional=300_000.0)
    # Row 1: 1,000,000 / 100 = 10,000 shares proposed; cut to 300,000 / 100 = 3,000.
    assert sim.trades["quantity"].tolist() == [3000.0]
    assert sim.trades["row"].tolist() == [1]
    assert sim.cash[:, 0].tolist() == [1_000_000.0, 700_000.0, 700_000.0]
    # Row 2: the rest is re-proposed and rejected (the position is at its limit).
    assert sim.equity[2, 0] == pytest.approx(700_000.0 + 3000 * 110.0)
    first = events[events["trade_date"] == DATES[1]]
    cut = first[first["check_name"] == "max_position"].iloc[0]
    assert (cut["action"], cut["value"], cut["limit"]) == ("reduce", 1_000_000.0, 300_000.0)
    assert first["status"].iloc[0] == "reduced"
    second = events[events["trade_date"] == DATES[2]]
    assert second["status"].iloc[0] == "rejected"
    assert second.loc[second["action"] == "reject", "check_name"].tolist() == ["lot_size"]


def test_order_notional_limit_rejects_the_whole_order():
    """max_order_notional rejects (the gate never shrinks an order to fit it): no fill."""
    sim, events = _run([100.0, 100.0, 110.0], max_order_notional=300_000.0)
    assert len(sim.trades["quantity"]) == 0
    assert sim.equity[:, 0].tolist() == [1_000_000.0] * 3
    rejected = events[events["action"] == "reject"]
    assert rejected["check_name"].tolist() == ["max_order_notional"] * 2
    assert rejected["value"].iloc[0] == pytest.approx(1_000_000.0)
    assert "exceeds the per-order limit 300,000" in rejected["reason"].iloc[0]


def test_collar_and_instrument_checks_pass_by_construction():
    """Reference price = last close and the panel is the instrument table: both pass."""
    _, events = _run([100.0, 130.0, 130.0], max_position_notional=300_000.0)
    collar = events[events["check_name"] == "price_collar"]
    assert collar["passed"].all() and collar["value"].tolist() == [0.0, 0.0]
    assert events.loc[events["check_name"] == "unknown_instrument", "passed"].all()


def test_gate_that_never_binds_changes_nothing():
    rng = np.random.default_rng(7)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 4)), axis=0))
    weights = np.round(rng.uniform(-0.2, 0.25, (60, 4)), 2)
    symbols = pd.Index(list("ABCD"))
    plain = simulate(weights, prices, prices, capital=1e6, commission_rate=0.001)
    gated, events = simulate_gated(
        weights, prices, prices, capital=1e6, commission_rate=0.001, symbols=symbols,
        dates=pd.bdate_range("2020-01-01", periods=60),
        instruments=gate_instruments(symbols), limits=RiskLimits(**LOOSE))
    assert events.empty
    np.testing.assert_array_equal(gated.equity, plain.equity)
    np.testing.assert_array_equal(gated.trades["quantity"], plain.trades["quantity"])


def test_sma_example_runs_gated_by_default_without_hitting_a_limit(msft_panels,
                                                                     example_strategy):
    options = options_for(example_strategy.config, TradingConfig(), capital=100_000.0)
    assert options.risk_limits.max_order_notional == pytest.approx(300_000.0)
    result = run_backtest(example_strategy.strategy, msft_panels, options)
    assert result.gate_events.empty and len(result.trades) == 43
