"""Metrics on hand-computed series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from macroquant.reports import metrics


def test_metrics_by_hand():
    r = pd.Series([0.10, -0.20, 0.05])
    assert metrics.total_return(r) == pytest.approx(1.1 * 0.8 * 1.05 - 1)
    mean, std = r.mean(), math.sqrt(((r - r.mean()) ** 2).sum() / 2)
    assert metrics.sharpe_ratio(r) == pytest.approx(mean / std * math.sqrt(252))
    assert metrics.annual_volatility(r) == pytest.approx(std * math.sqrt(252))
    # wealth 1.1, 0.88, 0.924; peak 1.1 -> worst 0.88/1.1 - 1 = -0.2
    assert metrics.max_drawdown(r) == pytest.approx(-0.2)
    assert metrics.cagr(r) == pytest.approx((0.924) ** (252 / 3) - 1)


def test_drawdown_from_a_first_day_loss_counts_from_the_start():
    assert metrics.max_drawdown(pd.Series([-0.1, 0.05])) == pytest.approx(-0.1)


def test_flat_series_has_no_sharpe():
    assert np.isnan(metrics.sharpe_ratio(pd.Series([0.0, 0.0, 0.0])))
