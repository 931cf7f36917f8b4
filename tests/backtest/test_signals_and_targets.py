"""The sma_crossover rule, its SMA feature, and signals → target weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from macroquant.backtest.features import compute_backtest_features, rolling_mean
from macroquant.backtest.targets import (
    direction_weights,
    signal_strength,
    volatility_target_weights,
)
from macroquant.errors import ConfigError
from macroquant.strategies.base import strategy_class
from macroquant.strategies.loader import load_strategy_file
from macroquant.strategies.moving_average import SmaCrossover


@settings(max_examples=60, deadline=None)
@given(values=arrays(np.float64, (40, 2),
                     elements=st.one_of(st.floats(-1e3, 1e3), st.just(np.nan))),
       window=st.integers(1, 12))
def test_rolling_mean_equals_pandas(values, window):
    frame = pd.DataFrame(values)
    expected = frame.rolling(window, min_periods=window).mean()
    pd.testing.assert_frame_equal(rolling_mean(frame, window), expected, rtol=1e-9, atol=1e-9)


def test_example_file_loads_as_sma_crossover(example_strategy):
    config = example_strategy.config
    assert strategy_class("trend_following", "sma_crossover") is SmaCrossover
    assert (config.long_only, config.sizing.method, config.execution.price) == (
        True, "full_equity", "next_close")
    assert config.execution.commission_bps == 10 and config.execution.slippage_bps == 0
    assert example_strategy.strategy.required_features() == {"sma:20", "sma:100"}


def test_fast_not_below_slow_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad_sma\ntype: trend_following\nrule: sma_crossover\n"
                    "universe: [MSFT]\nparameters: {fast: 50, slow: 20}\n")
    with pytest.raises(ConfigError, match="fast must be smaller than slow"):
        load_strategy_file(path)


def test_sma_crossover_signal_by_hand():
    close = pd.DataFrame({"A": [1.0, 2, 3, 2, 1, 1], "B": [5.0, 4, 3, 3, 3, 9]})
    strategy = SmaCrossover(SmaCrossover.parameters_model(fast=2, slow=3))
    features = compute_backtest_features(strategy.required_features(), close, close)
    strength = strategy.generate(features)
    # A: sma2 = ., 1.5, 2.5, 2.5, 1.5, 1 ; sma3 = ., ., 2, 2.333, 2, 1.333
    # B: sma2 = ., 4.5, 3.5, 3, 3, 6     ; sma3 = ., ., 4, 3.333, 3, 5
    expected = pd.DataFrame({"A": [np.nan, np.nan, 1, 1, -1, -1],
                             "B": [np.nan, np.nan, -1, -1, 0, 1]})
    pd.testing.assert_frame_equal(strength, expected)


def test_direction_weights_by_hand():
    strength = pd.DataFrame({"A": [np.nan, 0.4, 0.4, -1.0], "B": [np.nan, 0.0, 0.7, 0.2],
                             "C": [np.nan, 0.0, -0.1, 0.0]})
    long_only = signal_strength(strength, long_only=True)
    full = direction_weights(long_only, "full_equity")
    np.testing.assert_allclose(full.to_numpy(), [[0, 0, 0], [1, 0, 0], [0.5, 0.5, 0],
                                                 [0, 1, 0]])
    equal = direction_weights(signal_strength(strength, long_only=False), "equal_weight")
    np.testing.assert_allclose(equal.to_numpy() * 3, [[0, 0, 0], [1, 0, 0], [1, 1, -1],
                                                      [-1, 1, 0]])


def test_volatility_target_weights_and_limits_by_hand():
    strength = pd.DataFrame({"A": [1.0, 0.5], "B": [-1.0, 1.0]})
    volatility = pd.DataFrame({"A": [0.10, 0.20], "B": [0.05, 0.40]})
    raw, events = volatility_target_weights(strength, volatility, weight=1.0,
                                            annual_volatility_target=0.10)
    # w = s * 0.10 / (2 * sigma)
    np.testing.assert_allclose(raw.to_numpy(), [[0.5, -1.0], [0.125, 0.125]])
    assert events.empty
    limited, events = volatility_target_weights(strength, volatility, weight=1.0,
                                                annual_volatility_target=0.10,
                                                max_position_fraction=0.8,
                                                max_gross_leverage=1.0)
    # Row 0: B clipped to -0.8, gross 1.3 > 1 -> scaled by 1/1.3.
    np.testing.assert_allclose(limited.to_numpy(), [[0.5 / 1.3, -0.8 / 1.3], [0.125, 0.125]],
                               rtol=1e-9)
    assert set(events["outcome"]) == {"pass", "clip", "scale"}
