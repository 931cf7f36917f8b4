"""The dense construction MacroQuant used before the factor risk model (kept verbatim as
the reference of tests/portfolio/test_risk_model.py and benchmarks/portfolio_scale.py).

It forms the pairwise instruments x instruments covariance and correlation and the
(strategy x instrument)^2 correlation matrix of the subsystems for every date: exact, but
quadratic in time and memory (255 GiB for 50 strategies trading 10,000 symbols).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.config.settings import PortfolioConfig
from macroquant.portfolio.construction import (
    TRADING_DAYS,
    ConstructionInputs,
    diversification_multiplier,
    strategy_weights,
    unit_strategy_returns,
)


def ex_ante_volatility(notional: pd.Series, covariance: pd.DataFrame, capital: float) -> float:
    """Annualised volatility of a book of notionals as a fraction of capital (instruments
    without a covariance estimate count as uncorrelated with zero variance: skipped)."""
    known = covariance.index[np.isfinite(np.diag(covariance.to_numpy()))]
    n = notional.reindex(known).fillna(0.0).to_numpy()
    cov = covariance.loc[known, known].fillna(0.0).to_numpy()
    return float(np.sqrt(max(n @ cov @ n, 0.0))) / capital


def subsystem_dm(names: list[str], universes: dict[str, list[str]], alloc: np.ndarray,
                 correlation: pd.DataFrame, cap: float) -> float:
    """The multiplier over the (strategy, instrument) subsystems' correlation matrix."""
    symbols, weights = [], []
    for name, a in zip(names, alloc, strict=True):
        members = universes[name]
        symbols += members
        weights += [a / len(members)] * len(members)
    corr = correlation.reindex(index=symbols, columns=symbols).to_numpy(dtype=float)
    return diversification_multiplier(corr, np.array(weights), cap)


def dense_construct(inputs: ConstructionInputs, dates: list, *, capital: float,
                    config: PortfolioConfig,
                    ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """``construct`` as it was: same outputs, dense estimates."""
    min_observations = config.min_observations
    names = list(inputs.strengths)
    configured = inputs.weights.reindex(names).to_numpy(float)
    unit = unit_strategy_returns(inputs)
    target = config.annual_volatility_target
    notional: dict[str, list[pd.Series]] = {n: [] for n in names}
    full, diagnostics = [], []
    for day in dates:
        history = inputs.returns.loc[:day].tail(config.correlation_lookback)
        covariance = history.cov(min_periods=min_observations) * TRADING_DAYS
        correlation = history.corr(min_periods=min_observations)
        alloc = strategy_weights(unit.reindex(columns=names).loc[:day]
                                 .tail(config.correlation_lookback), configured, config)
        alloc = alloc * configured.sum()
        dm = subsystem_dm(names, inputs.universes, alloc, correlation,
                          config.max_diversification_multiplier)
        vol = inputs.volatility.loc[day] if day in inputs.volatility.index else \
            pd.Series(dtype=float)
        per_strategy, unit_size = {}, {}
        for name, a in zip(names, alloc, strict=True):
            universe = inputs.universes[name]
            strength = inputs.strengths[name].reindex(columns=universe)
            s = strength.loc[day] if day in strength.index else pd.Series(np.nan, universe)
            sigma = vol.reindex(universe)
            unit_size[name] = dm * a / len(universe) * capital * target / sigma.where(sigma > 0)
            per_strategy[name] = s * unit_size[name]
        book = pd.concat(per_strategy.values(), axis=1).sum(axis=1, min_count=1).fillna(0.0)
        predicted = ex_ante_volatility(book.groupby(level=0).sum(), covariance, capital)
        scale = 1.0
        if config.portfolio_volatility_targeting and predicted > 0:
            scale = min(config.max_portfolio_scale, target / predicted)
        for name in names:
            notional[name].append((per_strategy[name] * scale).rename(day))
        full.append((pd.concat(unit_size.values(), axis=1).sum(axis=1, min_count=1)
                     .groupby(level=0).sum() * scale).rename(day))
        diagnostics.append({"as_of": day, "diversification_multiplier": dm,
                            "predicted_volatility": predicted * scale, "volatility_scale": scale,
                            **{f"weight:{n}": float(a) for n, a in zip(names, alloc,
                                                                       strict=True)}})
    frames = {n: pd.DataFrame(rows) if rows else pd.DataFrame() for n, rows in notional.items()}
    return frames, pd.DataFrame(full), pd.DataFrame(diagnostics)
