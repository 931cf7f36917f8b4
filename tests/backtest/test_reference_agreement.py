"""The backtester against vectorbt on the bundled real MSFT history.

Rules (include/examples/sma_cross_msft.yaml): SMA 20/100 of the back-adjusted close
(``adj_close``), long only, all equity, 10 bps commission, fractional shares; a cross seen
at day t's close trades at day t+1's close (and, in the second test, t+1's open). vectorbt
gets its own SMAs (``vbt.MA``) and crossings (``ma_crossed_above``/``below``), shifted one
bar, and ``Portfolio.from_signals(fees=0.001)`` with all cash per entry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from macroquant.backtest.engine import BacktestOptions, run_backtest
from macroquant.config.settings import TradingConfig

vbt = pytest.importorskip("vectorbt")

CAPITAL = 100_000.0


def _reference(panels, price: str):
    close = panels.close["MSFT"]
    fast, slow = vbt.MA.run(close, 20), vbt.MA.run(close, 100)
    entries = fast.ma_crossed_above(slow).vbt.fshift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).vbt.fshift(1, fill_value=False)
    fill_price = close if price == "next_close" else panels.open["MSFT"]
    return vbt.Portfolio.from_signals(close, entries, exits, price=fill_price, fees=0.001,
                                      init_cash=CAPITAL, freq="1D")


def _options(example_strategy, **update) -> BacktestOptions:
    from macroquant.backtest.engine import options_for

    return options_for(example_strategy.config, TradingConfig(), capital=CAPITAL).model_copy(
        update=update)


@pytest.mark.parametrize("price", ["next_close", "next_open"])
def test_sma_crossover_matches_vectorbt_trade_by_trade(msft_panels, example_strategy, price):
    options = _options(example_strategy, price=price)
    assert options.costs.commission_bps == 10 and options.sizing == "full_equity"
    ours = run_backtest(example_strategy.strategy, msft_panels, options)
    reference = _reference(msft_panels, price)
    orders = reference.orders.records_readable

    expected_final = float(reference.final_value())
    relative = abs(ours.final_equity / expected_final - 1.0)
    print(f"\n[{price}] final equity: macroquant {ours.final_equity:.8f}, vectorbt "
          f"{expected_final:.8f}, relative difference {relative:.2e}; "
          f"{len(ours.trades)} vs {len(orders)} fills")
    assert relative <= 1e-6
    assert len(ours.trades) == len(orders) == 43
    trades = ours.trades
    assert list(trades["trade_date"]) == list(pd.DatetimeIndex(orders["Timestamp"]))
    assert list(trades["side"]) == [s.lower() for s in orders["Side"]]
    for column, theirs in (("quantity", "Size"), ("price", "Price"), ("commission", "Fees")):
        np.testing.assert_allclose(trades[column], orders[theirs], rtol=1e-6, atol=0)
    worst = max(float(np.max(np.abs(trades[c].to_numpy() / orders[t].to_numpy() - 1)))
                for c, t in (("quantity", "Size"), ("price", "Price"), ("commission", "Fees")))
    print(f"[{price}] worst trade-by-trade relative difference {worst:.2e}")
    # The whole equity curve, not just its end.
    np.testing.assert_allclose(ours.equity.to_numpy(), reference.value().to_numpy(),
                               rtol=1e-6)


def test_first_and_last_msft_trades_are_the_known_ones(msft_panels, example_strategy):
    """Pinned numbers of the next_close run (capital 100,000)."""
    ours = run_backtest(example_strategy.strategy, msft_panels, _options(example_strategy))
    first = ours.trades.iloc[0]
    assert str(first["signal_date"].date()) == "2000-11-20"
    assert str(first["trade_date"].date()) == "2000-11-21"
    assert first["side"] == "buy"
    # All cash, commission included: 100,000 / (price * 1.001) shares.
    assert first["quantity"] == pytest.approx(CAPITAL / (first["price"] * 1.001), rel=1e-12)
    assert first["commission"] == pytest.approx(99.9000999, rel=1e-9)
    assert ours.final_equity == pytest.approx(55447.393312, rel=1e-9)
