"""Paper broker fills and accounting: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.execution.accounting import apply_fills, cash_change
from macroquant.execution.costs import CostModel
from macroquant.execution.paper import PaperBroker

BROKER = PaperBroker(CostModel(commission_bps=10.0, slippage_bps=5.0))


def _orders(rows):
    return pd.DataFrame(rows, columns=["client_order_id", "instrument_id", "side", "quantity"])


def test_fill_at_open_with_slippage_and_commission_by_hand():
    bars = pd.DataFrame({"open": [100.0, np.nan], "close": [101.0, 1.25]}, index=[1, 2])
    orders = _orders([("o1", 1, "buy", 10.0), ("o2", 2, "sell", 1000.0), ("o3", 3, "buy", 1.0)])
    fills, unfilled = BROKER.fill_market_orders(orders, bars, "2012-01-03")
    assert unfilled["client_order_id"].tolist() == ["o3"]  # no bar for instrument 3
    f = fills.set_index("client_order_id")
    assert f.loc["o1", "price"] == pytest.approx(100.05)          # 100 * (1 + 5bp)
    assert f.loc["o1", "commission"] == pytest.approx(1.0005)     # 10 * 100.05 * 10bp
    assert f.loc["o1", "slippage_cost"] == pytest.approx(0.5)
    assert f.loc["o2", "price_field"] == "close"                  # bar without an open
    assert f.loc["o2", "price"] == pytest.approx(1.25 * (1 - 5e-4))
    assert cash_change(fills) == pytest.approx(-10 * 100.05 - 1.0005
                                               + 1000 * 1.249375 - 1000 * 1.249375 * 1e-3)


def test_fill_at_close_when_configured():
    bars = pd.DataFrame({"open": [100.0], "close": [101.0]}, index=[1])
    fills, _ = BROKER.fill_market_orders(_orders([("o1", 1, "sell", 10.0)]), bars, "d",
                                         at="close")
    assert fills.loc[0, "price_field"] == "close"
    assert fills.loc[0, "price"] == pytest.approx(101.0 * (1 - 5e-4))


def test_average_cost_adds_reduces_and_flips():
    book = pd.DataFrame({"quantity": [10.0], "average_cost": [100.0]}, index=[1])
    def fill(side, q, p):
        return pd.DataFrame({"instrument_id": [1], "side": [side], "quantity": [q],
                             "price": [p], "commission": [0.0]})
    added = apply_fills(book, fill("buy", 10.0, 110.0))
    assert added.loc[1].tolist() == [20.0, 105.0]
    reduced = apply_fills(added, fill("sell", 5.0, 200.0))
    assert reduced.loc[1].tolist() == [15.0, 105.0]
    flipped = apply_fills(reduced, fill("sell", 20.0, 90.0))
    assert flipped.loc[1].tolist() == [-5.0, 90.0]
    closed = apply_fills(flipped, fill("buy", 5.0, 80.0))
    assert closed.empty


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 500),
                          st.floats(1, 500), st.floats(1, 500)), min_size=1, max_size=30))
def test_equity_change_is_price_pnl_minus_costs(trades):
    """Equity after any sequence of fills = start + sum(q_t-1 * dP) - commissions."""
    cash, book, mark = 0.0, pd.DataFrame(columns=["quantity", "average_cost"], dtype=float), None
    costs, pnl = 0.0, 0.0
    for side, quantity, open_price, close_price in trades:
        held = float(book["quantity"].sum()) if not book.empty else 0.0
        if mark is not None:
            pnl += held * (open_price - mark)
        orders = _orders([("o", 1, side, float(quantity))])
        bars = pd.DataFrame({"open": [open_price], "close": [close_price]}, index=[1])
        fills, _ = BROKER.fill_market_orders(orders, bars, "d")
        costs += float(fills["commission"].sum())
        pnl -= float(fills["slippage_cost"].sum())
        cash += cash_change(fills)
        book = apply_fills(book, fills)
        held = float(book["quantity"].sum()) if not book.empty else 0.0
        pnl += held * (close_price - open_price)
        mark = close_price
    equity = cash + (float(book["quantity"].sum()) * mark if not book.empty else 0.0)
    assert equity == pytest.approx(pnl - costs, abs=1e-6 * (1 + abs(pnl)))


# ---------------------------------------------------------------- the paper broker behind the
# OMS interface shares the simulator's fill and cost model
def test_paper_account_broker_fills_like_the_simulator_and_rests_limits():
    from datetime import UTC, datetime

    from macroquant.brokers.interface import OrderRequest
    from macroquant.brokers.paper import PaperAccountBroker, PaperConfig

    account = PaperAccountBroker(PaperConfig(commission_bps=10.0, slippage_bps=5.0),
                                 lambda: datetime(2024, 1, 2, 15, tzinfo=UTC))
    report = account.submit_order(OrderRequest("o1", "AAPL", "buy", 10, reference_price=100.0))
    [fill] = account.fills(["o1"])
    assert report.status == "filled" and fill.price == pytest.approx(100.05)   # 5 bp
    assert fill.fee == pytest.approx(1.0005)                                  # 10 bp
    resting = account.submit_order(OrderRequest("o2", "AAPL", "sell", 4, "limit",
                                                 limit_price=101.0, reference_price=100.0))
    assert resting.status == "submitted"
    account.mark("AAPL", 102.0)                  # crosses: fills at the slipped 101.949
    assert account.get_order("o2").average_fill_price == pytest.approx(102.0 * (1 - 5e-4))
    assert [(p.symbol, p.quantity) for p in account.positions()] == [("AAPL", 6.0)]
    with pytest.raises(Exception, match="no price for MSFT"):
        account.submit_order(OrderRequest("o3", "MSFT", "buy", 1))
