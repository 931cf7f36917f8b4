"""Portfolio construction (pure): strategy signals → per-strategy target notionals.

For each date ``D`` of the window, using only data up to ``D``'s close:

1. **Instrument risk** over the last ``correlation_lookback`` sessions of daily returns
   of the instruments in any universe (annualised, 252 days), by
   :func:`macroquant.portfolio.risk_model.estimate_risk`: pairwise sample covariances and
   correlations up to ``pairwise_risk_max_instruments`` instruments, a statistical factor
   model (``risk_factors`` principal components plus specific risk) above, so that time
   and memory stay linear in instruments (no instruments x instruments matrix).
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
   ``max_diversification_multiplier``. Because of that convention ``w' C w = v' C v`` with
   ``v_i`` the sum of the subsystem weights on instrument ``i``: it is evaluated over
   instruments, never over the (strategy x instrument)^2 pairs.
4. **Instrument volatility targeting**:
   ``notional_{s,i} = DM * a_s / n_s * strength * capital * target / sigma_i``.
5. **Portfolio volatility targeting**: the combined book's ex-ante volatility
   ``sqrt(N' Σ N) / capital`` is scaled to the target by a factor capped at
   ``max_portfolio_scale`` (never scaled up without bound when signals are weak).

:func:`buffer_targets` then keeps a position unchanged while the new target stays within
``buffer_fraction`` of a full-strength position of it (pysystemtrade's buffering), and
rounds to whole lots. Apart from the risk estimate, every step is vectorised over
instruments (one pass per date and strategy); the allocation works on the strategies'
covariance (strategies x strategies) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from macroquant.config.settings import PortfolioConfig
from macroquant.portfolio.allocation import allocate, crowding_cap
from macroquant.portfolio.risk_model import (
    TRADING_DAYS,
    FactorRisk,
    PairwiseRisk,
    estimate_risk,
    floored_correlation_form,
)
from macroquant.portfolio.sizing import round_to_lot

__all__ = ["TRADING_DAYS", "ConstructionInputs", "buffer_targets", "construct",
           "diversification_multiplier", "diversification_multiplier_of", "strategy_weights",
           "unit_strategy_returns"]


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
    """``min(cap, sum(w) / sqrt(w' max(C, 0) w))``; unknown correlations count as 1."""
    return _capped_multiplier(floored_correlation_form(correlation, weights),
                              float(np.sum(weights)), cap)


def diversification_multiplier_of(risk: PairwiseRisk | FactorRisk, weights: pd.Series,
                                  cap: float) -> float:
    """The multiplier of non-negative instrument ``weights`` (indexed by symbol) under a
    risk estimate (:mod:`macroquant.portfolio.risk_model`)."""
    return _capped_multiplier(risk.diversification_variance(weights), float(weights.sum()),
                              cap)


def _capped_multiplier(variance: float, total: float, cap: float) -> float:
    if variance <= 0:
        return 1.0
    return float(min(cap, total / np.sqrt(variance)))


def _take(frame: pd.DataFrame, index: pd.Index, columns: list[str]) -> np.ndarray:
    """``frame`` on ``index`` x ``columns`` as a float array, NaN where missing."""
    return frame.reindex(index=index, columns=columns).to_numpy(dtype=float)


def _positive(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, np.nan)


def unit_strategy_returns(inputs: ConstructionInputs) -> pd.DataFrame:
    """Daily return of each strategy with every signal sized at unit risk and equal
    weights inside the universe (dates × strategies); NaN before any signal exists."""
    out = {}
    for name, strength in inputs.strengths.items():
        universe = inputs.universes[name]
        units = _take(strength, strength.index, universe) \
            / _positive(_take(inputs.volatility, strength.index, universe))
        held = np.vstack([np.full((min(1, len(units)), len(universe)), np.nan), units[:-1]])
        contribution = held * _take(inputs.returns, strength.index, universe)
        total = np.where(np.isfinite(contribution).any(axis=1),
                         np.nansum(contribution, axis=1), np.nan) / len(universe)
        out[name] = pd.Series(np.where(np.isfinite(held).any(axis=1), total, np.nan),
                              index=strength.index)
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


def _membership(names: list[str], universes: dict[str, list[str]],
                symbols: pd.Index) -> np.ndarray:
    """How often each symbol is in each strategy's universe (symbols x strategies)."""
    out = np.zeros((len(symbols), len(names)))
    for column, name in enumerate(names):
        np.add.at(out[:, column], symbols.get_indexer(universes[name]), 1.0)
    return out


def _instrument_weights(membership: np.ndarray, sizes: np.ndarray, alloc: np.ndarray,
                        symbols: pd.Index) -> pd.Series:
    """The subsystem weights ``a_s / n_s`` summed per instrument (the positive ones): since
    the same instrument in two strategies counts as correlation 1, ``w' C w`` over the
    (strategy, instrument) subsystems equals ``v' C v`` over instruments with these
    weights ``v``."""
    v = membership @ (alloc / sizes)
    return pd.Series(v, index=symbols)[v > 0]


def _window_arrays(inputs: ConstructionInputs, names: list[str], dates: list,
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per strategy, the window's strengths and positive volatilities (dates x universe
    arrays, NaN where missing), taken once for the whole window."""
    index = pd.Index(dates)
    strengths, sigmas = {}, {}
    for name in names:
        universe, strength = inputs.universes[name], inputs.strengths[name]
        strengths[name] = _take(strength, index, universe)
        sigmas[name] = _positive(_take(inputs.volatility, index, universe))
    return strengths, sigmas


def construct(inputs: ConstructionInputs, dates: list, *, capital: float,
              config: PortfolioConfig,
              ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Target notional per strategy (dates x symbols) for ``dates``; the notional of a
    full-strength signal of every strategy per symbol (dates x symbols, the buffer's
    yardstick); one diagnostics row per date (``diversification_multiplier,
    predicted_volatility, volatility_scale`` and ``weight:<strategy>``)."""
    names = list(inputs.strengths)
    dates = list(dates)
    configured = inputs.weights.reindex(names).to_numpy(float)
    unit = unit_strategy_returns(inputs).reindex(columns=names)
    target = config.annual_volatility_target
    symbols = pd.Index(sorted({s for n in names for s in inputs.universes[n]}))
    position = {n: symbols.get_indexer(inputs.universes[n]) for n in names}
    membership = _membership(names, inputs.universes, symbols)
    sizes = np.array([len(inputs.universes[n]) for n in names], dtype=float)
    returns = inputs.returns.reindex(columns=symbols)
    strengths, sigmas = _window_arrays(inputs, names, dates)
    notional = {n: np.full((len(dates), len(inputs.universes[n])), np.nan) for n in names}
    full = np.full((len(dates), len(symbols)), np.nan)
    diagnostics = []
    for k, day in enumerate(dates):
        risk = estimate_risk(returns.loc[:day].tail(config.correlation_lookback),
                             min_observations=config.min_observations,
                             n_factors=config.risk_factors,
                             pairwise_max_instruments=config.pairwise_risk_max_instruments)
        alloc = strategy_weights(unit.loc[:day].tail(config.correlation_lookback), configured,
                                 config) * configured.sum()
        dm = diversification_multiplier_of(risk, _instrument_weights(membership, sizes, alloc,
                                                                     symbols),
                                           config.max_diversification_multiplier)
        book = np.zeros(len(symbols))
        full_sum, full_count = np.zeros(len(symbols)), np.zeros(len(symbols))
        for name, a in zip(names, alloc, strict=True):
            unit_size = dm * a / len(inputs.universes[name]) * capital * target \
                / sigmas[name][k]
            notional[name][k] = strengths[name][k] * unit_size
            np.add.at(book, position[name], np.nan_to_num(notional[name][k]))
            np.add.at(full_sum, position[name], np.nan_to_num(unit_size))
            np.add.at(full_count, position[name], np.isfinite(unit_size))
        predicted = np.sqrt(risk.portfolio_variance(pd.Series(book, symbols))) / capital
        scale = 1.0
        if config.portfolio_volatility_targeting and predicted > 0:
            scale = min(config.max_portfolio_scale, target / predicted)
        for name in names:
            notional[name][k] *= scale
        full[k] = np.where(full_count > 0, full_sum * scale, np.nan)
        diagnostics.append({"as_of": day, "diversification_multiplier": dm,
                            "predicted_volatility": predicted * scale, "volatility_scale": scale,
                            **{f"weight:{n}": float(a) for n, a in zip(names, alloc,
                                                                       strict=True)}})
    index = pd.Index(dates)
    frames = {n: pd.DataFrame(notional[n], index=index, columns=inputs.universes[n])
              if dates else pd.DataFrame() for n in names}
    return frames, pd.DataFrame(full, index=index, columns=symbols), \
        pd.DataFrame(diagnostics)


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
