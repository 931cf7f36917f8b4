"""The risk estimates of portfolio construction: the factor model against the pairwise
(dense) formulas, by hand and as properties.

Tolerances (also stated in macroquant/portfolio/risk_model.py and docs/risk.md):
- ``construct`` with the default pairwise path equals the dense construction it replaced
  (tests/portfolio/dense_reference.py) to 1e-12 (relative);
- the factor model equals the pairwise estimate to 1e-9 when every return is present and
  there are at least as many factors as instruments;
- on the demo book (10 sample instruments, mixed US / ECB calendars, 2 strategies, the
  demo year) the factor path's multiplier is within 1 % and its ex-ante volatility, scale
  and targets within 2 % of the dense construction;
- on random small books (3-12 instruments, 250 sessions) with up to 2 % of returns
  missing: multiplier within 1.5 %, ex-ante volatility within 10 % (over 600 such books
  the largest gaps were 0.8 % and 7 %, 2.6 % for 99 of 100 books: with gaps the two
  estimate different things, pair by pair or through the factors).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.config.settings import PortfolioConfig
from macroquant.portfolio import risk_model
from macroquant.portfolio.construction import (
    ConstructionInputs,
    construct,
    diversification_multiplier_of,
)
from macroquant.portfolio.risk_model import (
    FactorRisk,
    estimate_risk,
    factor_risk,
    floored_gram_form,
    pairwise_risk,
)
from tests.portfolio.dense_reference import dense_construct

FACTOR_PATH = {"pairwise_risk_max_instruments": 0}
DEMO_UNIVERSES = {"ewma_trend": ["SPX", "IXIC", "AAPL", "IBM", "MSFT", "GOOG", "EURUSD",
                                 "GBPUSD", "AUDUSD", "WTI"],
                  "zscore_reversion": ["AAPL", "IBM", "MSFT", "GOOG", "EURUSD", "GBPUSD",
                                       "AUDUSD"]}


def random_returns(seed: int, n: int, sessions: int = 250, missing: float = 0.0,
                   ) -> pd.DataFrame:
    """Correlated daily returns (a random mixing of normal draws), some missing."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.01, (sessions, n)) @ rng.normal(0.0, 1.0, (n, n))
    frame = pd.DataFrame(values, index=pd.bdate_range("2015-01-01", periods=sessions),
                         columns=[f"S{i:02d}" for i in range(n)])
    return frame.mask(rng.random(frame.shape) < missing)


def random_book(seed: int, n: int, strategies: int, missing: float = 0.0,
                ) -> tuple[ConstructionInputs, list]:
    """Inputs of ``construct`` over random returns, and the last five dates."""
    rng = np.random.default_rng(seed + 1)
    returns = random_returns(seed, n, 300, missing)
    symbols = list(returns.columns)
    volatility = returns.rolling(20, min_periods=5).std() * np.sqrt(252)
    universes = {f"st{s}": sorted(rng.choice(symbols, rng.integers(1, n + 1), replace=False))
                 for s in range(strategies)}
    strengths = {name: pd.DataFrame(rng.uniform(-1, 1, (len(returns), len(u))),
                                    index=returns.index, columns=u)
                 for name, u in universes.items()}
    weights = pd.Series(rng.uniform(0.1, 1.0, strategies), index=list(universes))
    inputs = ConstructionInputs(strengths=strengths, volatility=volatility, returns=returns,
                                universes=universes, weights=weights / weights.sum())
    return inputs, list(returns.index[-5:])


def assert_constructions_close(new, old, rel: float) -> None:
    """Targets, full positions and diagnostics of two ``construct`` results agree."""
    (notional, full, diagnostics), (ref_notional, ref_full, ref_diagnostics) = new, old
    for name, frame in ref_notional.items():
        np.testing.assert_allclose(notional[name].to_numpy(), frame.to_numpy(), rtol=rel,
                                   atol=1e-9)
    np.testing.assert_allclose(full.reindex(columns=ref_full.columns).to_numpy(),
                               ref_full.to_numpy(), rtol=rel)
    numeric = [c for c in ref_diagnostics.columns if c != "as_of"]
    np.testing.assert_allclose(diagnostics[numeric].to_numpy(float),
                               ref_diagnostics[numeric].to_numpy(float), rtol=rel)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12), st.integers(1, 4),
       st.sampled_from([0.0, 0.03]), st.sampled_from(["configured", "inverse_volatility",
                                                       "hrp"]))
def test_pairwise_path_equals_the_dense_construction(seed, n, strategies, missing, method):
    inputs, dates = random_book(seed, n, strategies, missing)
    config = PortfolioConfig(allocation=method)
    assert_constructions_close(construct(inputs, dates, capital=1e6, config=config),
                               dense_construct(inputs, dates, capital=1e6, config=config),
                               rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 15), st.integers(80, 300))
def test_factor_model_is_the_sample_estimate_with_every_return_and_enough_factors(
        seed, n, sessions):
    returns = random_returns(seed, n, sessions)
    factors = factor_risk(returns, min_observations=60, n_factors=20)
    pairwise = pairwise_risk(returns, min_observations=60)
    correlation = factors.loadings @ factors.loadings.T + np.diag(factors.specific)
    np.testing.assert_allclose(correlation, pairwise.correlation.to_numpy(), atol=1e-10)
    rng = np.random.default_rng(seed)
    book = pd.Series(rng.normal(0, 1e5, n), index=returns.columns)
    weights = pd.Series(rng.uniform(0, 1, n), index=returns.columns)
    assert factors.portfolio_variance(book) == pytest.approx(
        pairwise.portfolio_variance(book), rel=1e-9)
    assert factors.diversification_variance(weights) == pytest.approx(
        pairwise.diversification_variance(weights), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 12), st.floats(0.0, 0.02))
def test_factor_model_with_missing_returns_stays_close_to_pairwise(seed, n, missing):
    returns = random_returns(seed, n, 250, missing)
    factors = factor_risk(returns, min_observations=60, n_factors=20)
    pairwise = pairwise_risk(returns, min_observations=60)
    rng = np.random.default_rng(seed)
    book = pd.Series(rng.normal(0, 1e5, n), index=returns.columns)
    weights = pd.Series(rng.uniform(0, 1, n), index=returns.columns)
    assert np.sqrt(factors.portfolio_variance(book)) == pytest.approx(
        np.sqrt(pairwise.portfolio_variance(book)), rel=0.10)
    assert factors.diversification_variance(weights) ** -0.5 == pytest.approx(
        pairwise.diversification_variance(weights) ** -0.5, rel=0.015)


@pytest.fixture(scope="module")
def demo_book() -> tuple[ConstructionInputs, list]:
    """The demo's two strategies over the bundled sample closes (signals: the sign of the
    40-session return), sized on every 10th session of the demo year."""
    from macroquant.sources.sample import fetch_bars

    bars = fetch_bars(date(2011, 1, 1), date(2013, 2, 28))
    closes = bars.pivot(index="trade_date", columns="symbol", values="close").astype(float)
    closes = closes.sort_index()
    returns = closes.pct_change(fill_method=None)
    volatility = returns.ewm(span=36, min_periods=20).std() * np.sqrt(252)
    trend = np.sign(closes.pct_change(40, fill_method=None))
    strengths = {"ewma_trend": trend[DEMO_UNIVERSES["ewma_trend"]],
                 "zscore_reversion": -0.5 * trend[DEMO_UNIVERSES["zscore_reversion"]]}
    inputs = ConstructionInputs(strengths=strengths, volatility=volatility, returns=returns,
                                universes=DEMO_UNIVERSES,
                                weights=pd.Series({"ewma_trend": 0.6,
                                                   "zscore_reversion": 0.4}))
    return inputs, list(returns.loc["2012-03-01":].index[::10])


def test_demo_book_factor_path_agrees_with_the_dense_construction(demo_book):
    inputs, dates = demo_book
    assert inputs.returns.isna().mean().max() > 0.05      # mixed calendars: real gaps
    config = PortfolioConfig()
    dense = dense_construct(inputs, dates, capital=1e6, config=config)
    assert_constructions_close(construct(inputs, dates, capital=1e6, config=config), dense,
                               rel=1e-12)
    notional, _, diagnostics = construct(inputs, dates, capital=1e6,
                                         config=config.model_copy(update=FACTOR_PATH))
    reference = dense[2]
    for column, bound in (("diversification_multiplier", 0.01),
                          ("predicted_volatility", 0.02), ("volatility_scale", 0.02)):
        np.testing.assert_allclose(diagnostics[column], reference[column], rtol=bound)
    for name, frame in dense[0].items():
        np.testing.assert_allclose(notional[name].to_numpy(), frame.to_numpy(), rtol=0.02)
    # the two paths differ at all (the factor path is not the pairwise one in disguise)
    assert (diagnostics["diversification_multiplier"]
            != reference["diversification_multiplier"]).any()


def test_floored_gram_form_by_hand_and_in_blocks(monkeypatch):
    loadings = np.array([[0.6], [0.8], [-0.5]])
    weights = np.array([1.0, 2.0, 3.0])
    # b1.b2 = 0.48; b1.b3 = -0.3 and b2.b3 = -0.4 are floored at 0:
    # 1 + 4 + 9 + 2 * (1 * 2 * 0.48) = 15.92
    assert floored_gram_form(loadings, weights) == pytest.approx(15.92, rel=1e-12)
    monkeypatch.setattr(risk_model, "BLOCK_CELLS", 2)      # one row per block
    assert floored_gram_form(loadings, weights) == pytest.approx(15.92, rel=1e-12)
    rng = np.random.default_rng(3)
    b = rng.normal(0, 0.3, (40, 4))
    w = rng.uniform(0, 1, 40)
    corr = np.clip(b @ b.T, 0.0, None)
    np.fill_diagonal(corr, 1.0)
    assert floored_gram_form(b, w) == pytest.approx(w @ corr @ w, rel=1e-12)


def test_instruments_without_an_estimate_are_skipped_in_volatility_and_count_as_one():
    returns = random_returns(5, 3, 120)
    returns.iloc[:100, 2] = np.nan                   # 20 returns < min_observations
    book = pd.Series({"S00": 1e5, "S01": -2e5, "S02": 5e5})
    weights = pd.Series({"S00": 0.2, "S01": 0.3, "S02": 0.1, "ABSENT": 0.4})
    for risk in (factor_risk(returns, min_observations=60, n_factors=5),
                 pairwise_risk(returns, min_observations=60)):
        two = returns[["S00", "S01"]]
        expected = float(book[["S00", "S01"]] @ (two.cov() * 252) @ book[["S00", "S01"]])
        assert risk.portfolio_variance(book) == pytest.approx(expected, rel=1e-9)
        rho = max(float(two.corr().iloc[0, 1]), 0.0)
        known = 0.2**2 + 0.3**2 + 2 * 0.2 * 0.3 * rho
        # S02 and ABSENT are correlated 1 with everything: (sum v)^2 - (sum of known v)^2
        assert risk.diversification_variance(weights) == pytest.approx(
            known + 1.0**2 - 0.5**2, rel=1e-9)


def test_a_short_history_instrument_gets_its_loadings_from_its_own_dates():
    # Z copies X's returns on its last 100 dates only: on those dates they move as one
    returns = random_returns(11, 6, 250)
    returns["Z"] = returns["S00"].where(np.arange(250) >= 150)
    factors = factor_risk(returns, min_observations=60, n_factors=6)
    b = pd.DataFrame(factors.loadings, index=returns.columns)
    assert float(b.loc["Z"] @ b.loc["S00"]) == pytest.approx(1.0, abs=1e-6)
    assert factors.sigma[-1] == pytest.approx(returns["Z"].std() * np.sqrt(252), rel=1e-12)


def test_estimate_risk_switches_to_the_factor_model_above_the_pairwise_limit():
    returns = random_returns(1, 4)
    assert isinstance(estimate_risk(returns, min_observations=60, n_factors=2,
                                    pairwise_max_instruments=3), FactorRisk)
    assert not isinstance(estimate_risk(returns, min_observations=60, n_factors=2,
                                        pairwise_max_instruments=4), FactorRisk)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40), st.integers(1, 8),
       st.floats(0.0, 0.05), st.floats(1.0, 5.0), st.floats(0.01, 100.0))
def test_multiplier_and_volatility_invariants(seed, n, k, missing, cap, factor):
    returns = random_returns(seed, n, 200, missing)
    rng = np.random.default_rng(seed)
    weights = pd.Series(rng.uniform(0, 1, n), index=returns.columns)
    book = pd.Series(rng.normal(0, 1e5, n), index=returns.columns)
    risk = factor_risk(returns, min_observations=60, n_factors=k)
    dm = diversification_multiplier_of(risk, weights, cap)
    assert 1.0 - 1e-12 <= dm <= cap
    variance = risk.portfolio_variance(book)
    assert variance >= 0.0
    # scale invariance: scaled returns keep the correlations (same multiplier) and scale
    # the volatility; scaled weights keep the multiplier; a scaled book scales it too
    scaled = factor_risk(returns * factor, min_observations=60, n_factors=k)
    assert diversification_multiplier_of(scaled, weights, cap) == pytest.approx(dm, rel=1e-9)
    assert diversification_multiplier_of(risk, weights * factor, cap) == pytest.approx(
        dm, rel=1e-9)
    assert scaled.portfolio_variance(book) == pytest.approx(variance * factor**2, rel=1e-9)
    assert risk.portfolio_variance(book * -factor) == pytest.approx(variance * factor**2,
                                                                    rel=1e-9)
