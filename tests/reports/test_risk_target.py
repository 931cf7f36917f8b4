"""The volatility budget on a hand-computed window."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from macroquant.reports.risk_target import volatility_budget


def test_budget_counts_what_held_the_book_below_target():
    diagnostics = pd.DataFrame({"predicted_volatility": [0.10, 0.08, 0.06],
                                "volatility_scale": [4.0, 2.5, 4.0]})
    returns = pd.Series([0.01, -0.01, 0.0])
    events = pd.DataFrame({
        "as_of": ["d1", "d1", "d2", "d2", "d3", "d3"],
        "check_name": ["max_position", "max_position", "max_gross_leverage",
                       "max_net_leverage", "max_gross_leverage", "max_position"],
        "outcome": ["clip", "pass", "scale", "scale", "pass", "clip"]})
    budget = volatility_budget(target=0.12, max_portfolio_scale=4.0, diagnostics=diagnostics,
                               daily_returns=returns, risk_events=events,
                               strengths=pd.Series([0.5, -0.25, 0.0, 1.0]))
    assert budget.ex_ante == pytest.approx(0.08)
    assert budget.realised == pytest.approx(0.01 * math.sqrt(252))   # sample std of ±1%, 0
    assert (budget.scale_capped_sessions, budget.clipped_targets, budget.scaled_sessions) == (
        2, 2, 1)
    assert budget.mean_abs_strength == pytest.approx(0.4375)
    assert "volatility target 12.0%: ex-ante 8.0%, realised 15.9%" in budget.lines()[0]
