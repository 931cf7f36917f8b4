"""Look-ahead: cutting the data at any date leaves every earlier signal, order (target
change) and fill, and the equity curve, unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macroquant.backtest.engine import options_for, run_backtest
from macroquant.config.settings import TradingConfig


@pytest.fixture(scope="module")
def full_runs(msft_panels, example_strategy):
    runs = {}
    base = options_for(example_strategy.config, TradingConfig(), capital=100_000.0)
    for label, update in {"example": {},
                          "volatility_target_next_open": {"sizing": "volatility_target",
                                                          "long_only": False,
                                                          "price": "next_open"}}.items():
        options = base.model_copy(update=update)
        runs[label] = (options, run_backtest(example_strategy.strategy, msft_panels, options))
    return runs


def _assert_prefix(full, cut_run, cut: pd.Timestamp) -> None:
    dates = cut_run.equity.index
    assert dates[-1] == cut
    pd.testing.assert_frame_equal(cut_run.signals, full.signals.loc[dates])
    pd.testing.assert_frame_equal(cut_run.weights, full.weights.loc[dates])
    pd.testing.assert_frame_equal(cut_run.orders.reset_index(drop=True),
                                  full.orders[full.orders["signal_date"] <= cut]
                                  .reset_index(drop=True))
    pd.testing.assert_frame_equal(cut_run.trades.reset_index(drop=True),
                                  full.trades[full.trades["trade_date"] <= cut]
                                  .reset_index(drop=True))
    pd.testing.assert_series_equal(cut_run.equity, full.equity.loc[dates])
    pd.testing.assert_frame_equal(cut_run.positions, full.positions.loc[dates])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=5, max_value=3268),
       label=st.sampled_from(["example", "volatility_target_next_open"]))
def test_truncating_the_data_changes_nothing_before_the_cut(
        msft_panels, example_strategy, full_runs, position, label):
    options, full = full_runs[label]
    cut = msft_panels.dates[position]
    cut_run = run_backtest(example_strategy.strategy, msft_panels.until(cut), options)
    _assert_prefix(full, cut_run, cut)


def test_the_cut_is_also_the_end_option(msft_panels, example_strategy, full_runs):
    options, full = full_runs["example"]
    cut = msft_panels.dates[2000]
    by_option = run_backtest(example_strategy.strategy, msft_panels,
                             options.model_copy(update={"end": cut.date()}))
    _assert_prefix(full, by_option, cut)
    assert len(full.trades) > len(by_option.trades) > 10


def test_a_changed_future_price_is_not_seen(msft_panels, example_strategy, full_runs):
    """Poison every price after a date: nothing up to that date moves."""
    options, full = full_runs["volatility_target_next_open"]
    cut = msft_panels.dates[1500]
    later = msft_panels.dates > cut
    poisoned = type(msft_panels)(*(frame.mask(np.broadcast_to(later[:, None], frame.shape),
                                              frame * 3.0)
                                   for frame in (msft_panels.open, msft_panels.close,
                                                 msft_panels.volume, msft_panels.raw_close)))
    run = run_backtest(example_strategy.strategy, poisoned, options)
    dates = msft_panels.dates[msft_panels.dates <= cut]
    pd.testing.assert_series_equal(run.equity.loc[dates], full.equity.loc[dates])
    assert run.equity.iloc[-1] != pytest.approx(full.equity.iloc[-1])  # the poison bites
