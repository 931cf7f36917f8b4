"""Allocation across strategies: HRP by hand and against SciPy's tree, risk parity,
inverse volatility, crowding; the diversification multiplier and buffering by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from macroquant.portfolio.allocation import (
    correlation_distance,
    crowding_cap,
    hierarchical_risk_parity,
    hrp_linkage,
    inverse_volatility,
    leaf_order,
    risk_contributions,
    risk_parity,
    single_linkage,
)
from macroquant.portfolio.construction import buffer_targets, diversification_multiplier


def covariance(sd, corr):
    sd = np.asarray(sd, dtype=float)
    return np.asarray(corr, dtype=float) * np.outer(sd, sd)


THREE = covariance([0.1, 0.2, 0.3], [[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_hrp_three_assets_by_hand():
    # Tree: assets 0 and 1 (rho 0.9) merge first, then 2: leaf order [2, 0, 1].
    # Bisection [2] | [0, 1]: V[2] = 0.09; the inverse-variance mix of 0 and 1 is
    # (0.8, 0.2) with variance 0.64*0.01 + 0.04*0.04 + 2*0.8*0.2*0.9*0.1*0.2 = 0.01376,
    # so asset 2 gets 1 - 0.09 / 0.10376 = 0.132614... and [0, 1] the rest, split
    # 1 - 0.01 / 0.05 = 0.8 : 0.2.
    assert leaf_order(hrp_linkage(THREE), 3) == [2, 0, 1]
    w2 = 1 - 0.09 / (0.09 + 0.01376)
    expected = [(1 - w2) * 0.8, (1 - w2) * 0.2, w2]
    assert hierarchical_risk_parity(THREE) == pytest.approx(expected, rel=1e-12)
    assert hierarchical_risk_parity(THREE) == pytest.approx([0.693909, 0.173477, 0.132614],
                                                            abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 9), st.integers(0, 10_000))
def test_single_linkage_tree_matches_scipy(n, seed):
    rng = np.random.default_rng(seed)
    returns = rng.normal(size=(200, n)) @ rng.normal(size=(n, n))
    corr = np.corrcoef(returns, rowvar=False)
    d = correlation_distance(corr)
    columns = np.sqrt(((d[:, :, None] - d[:, None, :]) ** 2).sum(axis=0))
    ours = single_linkage(columns)
    theirs = linkage(squareform(columns, checks=False), method="single")
    assert ours[:, 2] == pytest.approx(theirs[:, 2], rel=1e-12)      # merge heights
    assert ours[:, 3].tolist() == theirs[:, 3].tolist()                # cluster sizes

    def clusters(z):  # the set of leaf sets formed, independent of id conventions
        members = {i: frozenset([i]) for i in range(n)}
        for k, (a, b, *_rest) in enumerate(z):
            members[n + k] = members[int(a)] | members[int(b)]
        return {members[n + k] for k in range(n - 1)}

    assert clusters(ours) == clusters(theirs)


def test_risk_parity_equalises_risk_contributions():
    cov = covariance([0.05, 0.1, 0.2, 0.4], [[1, 0.3, 0.1, 0.0], [0.3, 1, 0.5, 0.2],
                                            [0.1, 0.5, 1, 0.6], [0.0, 0.2, 0.6, 1]])
    w = risk_parity(cov)
    assert w.sum() == pytest.approx(1.0)
    assert risk_contributions(w, cov) == pytest.approx([0.25] * 4, abs=1e-10)
    # uncorrelated assets: risk parity is inverse volatility, 1/sd normalised
    diagonal = np.diag([0.01, 0.04, 0.16])
    assert risk_parity(diagonal) == pytest.approx([4 / 7, 2 / 7, 1 / 7], rel=1e-10)
    assert inverse_volatility(diagonal) == pytest.approx([4 / 7, 2 / 7, 1 / 7], rel=1e-12)


def test_crowding_cap_makes_correlated_strategies_share_one_budget():
    corr = np.array([[1.0, 0.85, 0.1], [0.85, 1.0, 0.2], [0.1, 0.2, 1.0]])
    # 0 and 1 crowd: together they get max(0.4, 0.2) = 0.4 split 2:1; 2 keeps 0.4;
    # rescaled to the input's total 1.0: (0.2667, 0.1333, 0.4) / 0.8
    assert crowding_cap(np.array([0.4, 0.2, 0.4]), corr, 0.7) == pytest.approx(
        [1 / 3, 1 / 6, 1 / 2])
    assert crowding_cap(np.array([0.4, 0.2, 0.4]), corr, 0.9) == pytest.approx([0.4, 0.2, 0.4])


def test_diversification_multiplier_by_hand_and_capped():
    # two equally weighted, uncorrelated: 1 / sqrt(0.5) = 1.4142
    assert diversification_multiplier(np.eye(2), np.array([0.5, 0.5]), 2.5) == \
        pytest.approx(np.sqrt(2))
    # negative correlation floored at 0 (as pysystemtrade does): same answer
    assert diversification_multiplier(np.array([[1, -0.5], [-0.5, 1]]), np.array([0.5, 0.5]),
                                      2.5) == pytest.approx(np.sqrt(2))
    # rho 0.5: 1 / sqrt(0.25 + 0.25 + 2*0.25*0.5) = 1.1547
    assert diversification_multiplier(np.array([[1, 0.5], [0.5, 1]]), np.array([0.5, 0.5]),
                                      2.5) == pytest.approx(1 / np.sqrt(0.75))
    # ten uncorrelated: sqrt(10) = 3.16 -> capped at 2.5
    assert diversification_multiplier(np.eye(10), np.full(10, 0.1), 2.5) == 2.5


def test_buffer_keeps_small_changes_and_trades_to_the_edge():
    dates = pd.date_range("2020-01-01", periods=4)
    targets = pd.DataFrame({"A": [100.0, 105.0, 130.0, 0.0]}, index=dates)
    full = pd.DataFrame({"A": [200.0] * 4}, index=dates)   # buffer 10% -> +-20
    out = buffer_targets(targets, full, pd.Series({"A": 1.0}), pd.Series({"A": 90.0}), 0.10)
    # 100 is within 90 +- 20: keep 90; 105 within: keep 90; 130 above 110 -> 130 - 20 = 110;
    # 0 below 110 - 20 -> 0 + 20 = 20
    assert out["A"].tolist() == [90.0, 90.0, 110.0, 20.0]
