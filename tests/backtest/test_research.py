"""Grid search, walk-forward and the deflated Sharpe ratio."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from macroquant.backtest.deflated_sharpe import (
    deflated_sharpe_of,
    deflated_sharpe_ratio,
    expected_max_sharpe,
)
from macroquant.backtest.engine import options_for, run_backtest
from macroquant.backtest.research import fold_bounds, grid_search, parse_grid, walk_forward
from macroquant.config.settings import TradingConfig
from macroquant.errors import ConfigError
from macroquant.strategies.moving_average import SmaCrossover


def test_deflated_sharpe_hand_computed_case():
    """N = 10 trials whose per-day Sharpe ratios have variance 0.0004 (std 0.02); the
    selected one has SR = 0.05 per day over T = 500 returns, skewness -0.5, kurtosis 4.

    Normal quantiles (scipy.stats.norm.ppf): Z^-1(0.9) = 1.2815515655446004 and
    Z^-1(1 - 1/(10 e)) = Z^-1(0.9632120558828557) = 1.7892417645816283.
    SR0 = 0.02 * ((1 - 0.5772156649015329) * 1.2815515655446004
                  + 0.5772156649015329 * 1.7892417645816283) = 0.031491966026915
    denominator = 1 + 0.5 * 0.05 + (4 - 1) / 4 * 0.05**2 = 1.026875
    z = (0.05 - 0.031491966026915) * sqrt(499) / sqrt(1.026875) = 0.40799211555744
    DSR = Z(0.40799211555744) = 0.65836026830884
    """
    assert expected_max_sharpe(10, 0.0004) == pytest.approx(0.031491966026915, abs=1e-14)
    dsr = deflated_sharpe_ratio(0.05, 500, -0.5, 4.0, 10, 0.0004)
    assert dsr == pytest.approx(0.65836026830884, abs=1e-12)
    # Z(z) cross-checked with the error function: Z(z) = erfc(-z / sqrt 2) / 2.
    assert dsr == pytest.approx(0.5 * math.erfc(-0.40799211555744 / math.sqrt(2)), abs=1e-12)
    # Barely above SR0 (normal returns): DSR just above one half.
    assert deflated_sharpe_ratio(0.035, 500, 0.0, 3.0, 10, 0.0004) == pytest.approx(
        0.5312210231901705, abs=1e-12)


def test_one_trial_is_the_probabilistic_sharpe_against_zero():
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert deflated_sharpe_ratio(0.0, 100, 0.0, 3.0, 1, 0.0) == pytest.approx(0.5)
    assert expected_max_sharpe(100, 0.0004) > expected_max_sharpe(10, 0.0004)


def test_deflated_sharpe_of_returns_uses_sample_moments():
    rng = np.random.default_rng(7)
    returns = pd.Series(rng.normal(0.001, 0.01, 400))
    sharpe = returns.mean() / returns.std(ddof=1)
    expected = deflated_sharpe_ratio(sharpe, 400, returns.skew(), returns.kurt() + 3, 3,
                                     np.var([0.01, 0.02, 0.05], ddof=1))
    assert deflated_sharpe_of(returns, np.array([0.01, 0.02, 0.05])) == pytest.approx(expected)


def test_parse_grid():
    assert parse_grid(["fast=10,20,50", "slow=100,200"]) == {"fast": [10, 20, 50],
                                                             "slow": [100, 200]}
    with pytest.raises(ConfigError, match="NAME=V1,V2"):
        parse_grid(["fast"])


def test_grid_search_counts_valid_trials_and_reports_invalid(msft_panels, example_strategy):
    options = options_for(example_strategy.config, TradingConfig(), capital=100_000.0)
    search = grid_search(SmaCrossover, {}, {"fast": [20, 150], "slow": [100, 200]},
                         msft_panels, options)
    assert len(search.trials) == 4 and search.n_trials == 3     # fast 150 >= slow 100
    assert [t.error for t in search.trials if t.result is None] == [
        "Value error, fast must be smaller than slow"]
    single = run_backtest(example_strategy.strategy, msft_panels, options)
    twenty_hundred = next(t for t in search.trials if t.parameters == {"fast": 20, "slow": 100})
    assert twenty_hundred.result.final_equity == single.final_equity
    assert search.best.sharpe == max(t.sharpe for t in search.valid)
    assert 0.0 <= search.deflated_sharpe() <= 1.0


def test_fold_bounds():
    dates = pd.bdate_range("2020-01-01", periods=10)
    assert fold_bounds(dates, 4, 3) == [(0, 4, 7), (3, 7, 10)]
    with pytest.raises(ConfigError, match="no out-of-sample"):
        fold_bounds(dates, 10, 3)


def test_walk_forward_on_msft(msft_panels, example_strategy):
    options = options_for(example_strategy.config, TradingConfig(), capital=100_000.0)
    grid = {"fast": [10, 20, 50], "slow": [100, 200]}
    run = walk_forward(SmaCrossover, {}, grid, msft_panels, options, train=756, test=504)
    assert len(run.folds) == 5 and run.n_trials == 30
    for before, after in zip(run.folds, run.folds[1:], strict=False):
        assert before.out_of_sample[1] < after.out_of_sample[0]
        # Each fold starts with the equity the previous one ended with.
        assert after.out_result.equity.iloc[0] == pytest.approx(before.out_result.final_equity)
    for fold in run.folds:
        assert fold.in_sample[1] < fold.out_of_sample[0]
        assert fold.out_result.trades["trade_date"].min() > fold.out_of_sample[0]
    assert run.equity.iloc[-1] == run.folds[-1].out_result.final_equity
    # The choices are made in-sample: changing prices after a fold's out-of-sample end
    # leaves that fold as it was.
    cut = run.folds[1].out_of_sample[1]
    later = msft_panels.dates > cut
    poisoned = type(msft_panels)(*(frame.mask(np.broadcast_to(later[:, None], frame.shape),
                                              frame[::-1].to_numpy())
                                   for frame in (msft_panels.open, msft_panels.close,
                                                 msft_panels.volume, msft_panels.raw_close)))
    again = walk_forward(SmaCrossover, {}, grid, poisoned, options, train=756, test=504)
    for fold, other in zip(run.folds[:2], again.folds[:2], strict=True):
        assert fold.search.best.parameters == other.search.best.parameters
        pd.testing.assert_series_equal(fold.out_result.equity, other.out_result.equity)
