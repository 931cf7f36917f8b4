"""Portfolio construction (pure): strategy signals → per-strategy target notionals.

For each date ``D`` of the window, using only data up to ``D``'s close:

1. **Instrument risk**: the covariance of daily instrument returns over the last
   ``correlation_lookback`` sessions (annualised, 252 days).
2. **Allocation across strategies**: a weight ``a_s`` per strategy from the covariance of
   the strategies' *unit* returns ``sum_i strength_{s,i,d-1} / sigma_{i,d-1} * r_{i,d} / n_s``
   (signals sized at the target, before any weighting, so the estimate does not depend on
   earlier allocations), by the configured method; strategies correlating above
   ``crowding_correlation`` share one budget. Estimated per strategy and pairwise
   (:func:`strategy_weights`): a strategy with fewer than ``min_observations`` unit returns
   (new, or paused) keeps its configured weight, the others are allocated among
   themselves. Weights keep the configured weights' total.
3. **Diversification multiplier** (pysystemtrade's IDM):
   ``1 / sqrt(w' C w)`` over the (strategy, instrument) subsystems with weights
   ``w = a_s / n_s`` and ``C`` the instruments' return correlations floored at 0 (the same
   instrument in two strategies counts as correlation 1: conservative), capped at
   ``max_diversification_multiplier``.
4. **Instrument volatility targeting**:
   ``notional_{s,i} = DM * a_s / n_s * strength * capital * target / sigma_i``.
5. **Portfolio volatility targeting**: the combined book's ex-ante volatility
   ``sqrt(N' Σ N) / capital`` is scaled to the target by a factor capped at
   ``max_portfolio_scale`` (never scaled up without bound when signals are weak).

:func:`buffer_targets` then keeps a position unchanged while the new target stays within
``buffer_fraction`` of a full-strength position of it (pysystemtrade's buffering), and
rounds to whole lots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from macroquant.config.settings import PortfolioConfig
from macroquant.portfolio.allocation import allocate, crowding_cap
from macroquant.portfolio.sizing import round_to_lot

TRADING_DAYS = 252


@dataclass(frozen=True)
class ConstructionInputs:
    """Wide panels indexed by date, one column per symbol.

    ``strengths``: per strategy, signal strength in [-1, 1] (NaN: no signal), for the
    window and as much history before it as exists. ``volatility``: annualised instrument
    volatility on the same dates. ``returns``: daily instrument returns with at least
    ``correlation_lookback`` sessions before the window. ``universes``: symbols of each
    strategy; ``weights``: configured weight of each strategy.
    """

    strengths: dict[str, pd.DataFrame]
    volatility: pd.DataFrame
    returns: pd.DataFrame
    universes: dict[str, list[str]]
    weights: pd.Series


def diversification_multiplier(correlation: np.ndarray, weights: np.ndarray,
                               cap: float) -> float:
    """``min(cap, 1 / sqrt(w' max(C, 0) w))``; unknown correlations count as 1."""
    corr = np.nan_to_num(np.asarray(correlation, dtype=float), nan=1.0)
    corr = np.clip(corr, 0.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    w = np.asarray(weights, dtype=float)
    variance = float(w @ corr @ w)
    if variance <= 0:
        return 1.0
    return float(min(cap, w.sum() / np.sqrt(variance)))


def ex_ante_volatility(notional: pd.Series, covariance: pd.DataFrame, capital: float) -> float:
    """Annualised volatility of a book of notionals as a fraction of capital (instruments
    without a covariance estimate count as uncorrelated with zero variance: skipped)."""
    known = covariance.index[np.isfinite(np.diag(covariance.to_numpy()))]
    n = notional.reindex(known).fillna(0.0).to_numpy()
    cov = covariance.loc[known, known].fillna(0.0).to_numpy()
    return float(np.sqrt(max(n @ cov @ n, 0.0))) / capital


def unit_strategy_returns(inputs: ConstructionInputs) -> pd.DataFrame:
    """Daily return of each strategy with every signal sized at unit risk and equal
    weights inside the universe (dates × strategies); NaN before any signal exists."""
    out = {}
    for name, strength in inputs.strengths.items():
        universe = inputs.universes[name]
        vol = inputs.volatility.reindex(index=strength.index, columns=universe)
        units = strength.reindex(columns=universe) / vol.where(vol > 0)
        returns = inputs.returns.reindex(index=strength.index, columns=universe)
        contribution = units.shift(1) * returns
        has_signal = units.shift(1).notna().any(axis=1)
        out[name] = (contribution.sum(axis=1, min_count=1) / len(universe)).where(has_signal)
    return pd.DataFrame(out)


def _positive_semidefinite(covariance: np.ndarray) -> np.ndarray:
    """``covariance`` with negative eigenvalues set to 0 (a pairwise estimate need not be
    positive semidefinite); unchanged when it already is."""
    values, vectors = np.linalg.eigh(covariance)
    if values.min() >= 0:
        return covariance
    return (vectors * np.clip(values, 0.0, None)) @ vectors.T


def strategy_weights(history: pd.DataFrame, configured: np.ndarray,
                     config: PortfolioConfig) -> np.ndarray:
    """Allocation across strategies (sums to 1) from their unit returns ``history``
    (dates × strategies, NaN where a strategy has none: not started yet, or paused).

    Each strategy with at least ``min_observations`` unit returns in ``history`` (and a
    positive variance) is *estimable*; covariances and correlations are estimated pairwise
    over the dates both strategies have (``min_observations`` in common, else the
    configured weights are used for all), so one strategy's missing days never remove the
    others' days. The estimable strategies share their configured weights' total by
    ``config.allocation`` and the crowding cap; the others keep their configured weight.
    """
    base = configured / configured.sum()
    counts = history.notna().sum().to_numpy()
    variance = history.var().fillna(0.0).to_numpy()
    estimable = (counts >= config.min_observations) & (variance > 0)
    if estimable.sum() < 2:
        return base
    sub = history.loc[:, estimable]
    s_cov = sub.cov(min_periods=config.min_observations).to_numpy() * TRADING_DAYS
    s_corr = sub.corr(min_periods=config.min_observations).to_numpy()
    if not (np.isfinite(s_cov).all() and np.isfinite(s_corr).all()):
        return base
    weights = allocate(config.allocation, _positive_semidefinite(s_cov), configured[estimable])
    weights = crowding_cap(weights, s_corr, config.crowding_correlation)
    out = base.copy()
    out[estimable] = weights / weights.sum() * base[estimable].sum()
    return out


def _subsystem_dm(names: list[str], universes: dict[str, list[str]], alloc: np.ndarray,
                  correlation: pd.DataFrame, cap: float) -> float:
    symbols, weights = [], []
    for name, a in zip(names, alloc, strict=True):
        members = universes[name]
        symbols += members
        weights += [a / len(members)] * len(members)
    corr = correlation.reindex(index=symbols, columns=symbols).to_numpy(dtype=float)
    return diversification_multiplier(corr, np.array(weights), cap)


def construct(inputs: ConstructionInputs, dates: list, *, capital: float,
              config: PortfolioConfig,
              ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Target notional per strategy (dates × symbols) for ``dates``; the notional of a
    full-strength signal of every strategy per symbol (dates × symbols, the buffer's
    yardstick); one diagnostics row per date (``diversification_multiplier,
    predicted_volatility, volatility_scale`` and ``weight:<strategy>``)."""
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
        dm = _subsystem_dm(names, inputs.universes, alloc, correlation,
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


def buffer_targets(targets: pd.DataFrame, full_positions: pd.DataFrame, lots: pd.Series,
                   previous: pd.Series, buffer_fraction: float) -> pd.DataFrame:
    """Buffered, lot-rounded targets (dates × symbols, quantities).

    Day by day: while ``|target - held| <= buffer_fraction * |full_position|`` the held
    target is kept; outside, the target moves to the nearer edge of the buffer. ``held``
    starts at ``previous`` (the last stored target before the window; missing = 0), and
    each day's result is rounded to whole lots before it becomes the next day's ``held``.
    """
    held = previous.reindex(targets.columns).fillna(0.0).to_numpy(float)
    lot = lots.reindex(targets.columns).to_numpy(float)
    width = (buffer_fraction * full_positions.reindex_like(targets).abs()).fillna(0.0)
    out = np.empty(targets.shape)
    for k, (row, band) in enumerate(zip(targets.to_numpy(float), width.to_numpy(float),
                                        strict=True)):
        row = np.nan_to_num(row, nan=0.0)
        moved = np.where(row > held + band, row - band, np.where(row < held - band,
                                                                 row + band, held))
        held = round_to_lot(moved, lot) + 0.0
        out[k] = held
    return pd.DataFrame(out, index=targets.index, columns=targets.columns)
