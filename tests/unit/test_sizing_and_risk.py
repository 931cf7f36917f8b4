"""Volatility-targeted sizing and risk limits: hand-computed cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.portfolio.sizing import round_to_lot, truncate_to_lot, volatility_target_notional
from macroquant.risk.limits import apply_limits


def test_volatility_target_by_hand():
    # capital 1M, weight 0.5, target 10%, 4 instruments: budget 12,500 of annual risk per
    # instrument; at 25% volatility a full signal is 50,000 notional, a half signal 25,000.
    notional = volatility_target_notional(
        pd.Series([1.0, 0.5, -1.0, 1.0]), pd.Series([0.25, 0.25, 0.10, 0.0]),
        capital=1_000_000, weight=0.5, annual_volatility_target=0.10, n_instruments=4)
    assert notional.iloc[:3].tolist() == pytest.approx([50_000, 25_000, -125_000])
    assert np.isnan(notional.iloc[3])  # no volatility estimate, no position


def test_lot_rounding():
    q = np.array([149.0, 150.0, -1499.0, -1500.0, 0.4])
    assert round_to_lot(q, 100.0).tolist() == [100.0, 200.0, -1500.0, -1500.0, 0.0]
    assert truncate_to_lot(q, 100.0).tolist() == [100.0, 100.0, -1400.0, -1500.0, 0.0]


def _targets(rows):
    return pd.DataFrame(rows, columns=["as_of", "symbol", "price", "lot_size", "target_quantity"])


def test_position_limit_clips_and_gross_limit_scales_by_hand():
    targets = _targets([
        ("d1", "A", 100.0, 1.0, 3000.0),   # 300k > 250k limit -> clipped to 2500
        ("d1", "B", 50.0, 1.0, -2000.0),   # 100k, passes
        ("d2", "A", 100.0, 1.0, 2000.0),   # 200k
        ("d2", "B", 50.0, 1.0, 4000.0),    # 200k ; gross 400k > 300k -> scale 0.75
    ])
    approved, events = apply_limits(targets, capital=1_000_000, max_position_fraction=0.25,
                                    max_gross_leverage=0.3)
    # d1 after the clip: 250k + 100k = 350k > 300k -> scaled by 300/350, toward zero:
    # 2500 * 6/7 = 2142.86 -> 2142 ; -2000 * 6/7 = -1714.29 -> -1714
    assert approved["approved_quantity"].tolist() == [2142.0, -1714.0, 1500.0, 3000.0]
    assert approved["risk_status"].tolist() == ["scaled"] * 4
    by_check = events.set_index(["as_of", "check_name", "subject"])
    assert by_check.loc[("d1", "max_position", "A"), "outcome"] == "clip"
    assert by_check.loc[("d1", "max_gross_leverage", "portfolio"), "outcome"] == "scale"
    assert by_check.loc[("d2", "max_gross_leverage", "portfolio"), "observed_value"] == 0.4
    assert by_check.loc[("d1", "max_gross_leverage", "portfolio"), "observed_value"] == 0.35


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1000), st.sampled_from([1.0, 10.0, 1000.0]),
                          st.floats(-1e5, 1e5)), min_size=1, max_size=12),
       st.floats(0.05, 1.0), st.floats(0.1, 3.0))
def test_limits_never_enlarge_flip_or_breach(rows, position_fraction, gross):
    targets = _targets([("d", f"S{i}", p, lot, round(q / lot) * lot)
                        for i, (p, lot, q) in enumerate(rows)])
    approved, _ = apply_limits(targets, capital=1_000_000,
                               max_position_fraction=position_fraction, max_gross_leverage=gross)
    q0, q1 = targets["target_quantity"].to_numpy(), approved["approved_quantity"].to_numpy()
    price = targets["price"].to_numpy()
    assert (np.abs(q1) <= np.abs(q0) + 1e-9).all()
    assert (q1 * q0 >= 0).all()
    assert (np.abs(q1 * price) <= position_fraction * 1_000_000 + 1e-6).all()
    assert np.abs(q1 * price).sum() <= gross * 1_000_000 + 1e-6
    assert np.allclose(q1 / targets["lot_size"], np.round(q1 / targets["lot_size"]))
