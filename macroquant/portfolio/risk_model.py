"""Instrument risk over a lookback (pure): the two numbers portfolio construction needs.

- ``portfolio_variance(notional)``: ``N' Σ N`` of a book of notionals (annualised), for
  the ex-ante volatility ``sqrt(N' Σ N) / capital``;
- ``diversification_variance(weights)``: ``v' C+ v`` of non-negative instrument weights
  ``v``, where ``C+`` are the instrument correlations floored at 0 and an instrument
  without an estimate counts as correlated 1 with every instrument; the diversification
  multiplier is ``sum(v) / sqrt(v' C+ v)``.

Two estimates of ``Σ`` and ``C`` from the lookback's daily returns (``T`` sessions x ``N``
instruments, NaN where an instrument has no return), chosen by :func:`estimate_risk`:

**Pairwise** (:class:`PairwiseRisk`, up to ``pairwise_risk_max_instruments``): the sample
covariance and correlation of every pair over the dates both have (pandas' ``cov`` /
``corr`` with ``min_periods=min_observations``). A pair with fewer common returns has no
estimate: its covariance counts as 0 (an instrument with no variance estimate is left out
of the volatility) and its correlation as 1. ``O(N^2 T)`` time, ``N^2`` memory.

**Statistical factor model** (:class:`FactorRisk`, above that size): the estimate and the
volatility take time and memory ``O(N T (T + K))``, linear in instruments; the multiplier's
floor needs every pair (below), in memory ``O(N K)``. No ``N x N`` matrix is formed.

1. An instrument is *estimable* with at least ``min_observations`` returns and a positive
   variance; ``s_i`` is its sample standard deviation over its own returns (so each
   instrument's variance is exactly the pairwise path's). Others have no estimate (as
   above: left out of the volatility, correlation 1 in the multiplier).
2. Standardised returns ``z_ti = (r_ti - mean_i) / s_i``, 0 where missing, form ``Z``
   (``T x N``). The factors are the ``K = min(risk_factors, rank)`` leading left singular
   vectors ``U`` of the columns of ``Z`` with returns on at least ``CORE_SHARE`` (90 %) of
   the dates (all estimable columns if none has): the eigenvectors of the ``T x T``
   matrix ``Z Z'``, so a short history's zeros do not shape the factors.
3. Each instrument's loadings: least squares (with an intercept) of its observed ``z_i``
   on ``U`` over its own dates, ``gamma_i``; in correlation units
   ``b_i = sqrt(R2_i) gamma_i / |gamma_i|`` with ``R2_i`` the share of its variance the
   factors explain on its dates (capped at 1). For an instrument with every return,
   ``b_i = U' z_i / sqrt(T - 1)``.
4. Correlation ``c_ij = b_i . b_j`` (``i != j``), ``c_ii = 1`` (specific variance
   ``1 - |b_i|^2``); covariance ``Σ_ij = s_i s_j c_ij`` (annualised).

Then ``N' Σ N = |B' y|^2 + sum_i y_i^2 (1 - |b_i|^2)`` with ``y_i = s_i N_i``: ``O(N K)``.
The multiplier keeps the pairwise conventions (floor at 0 per pair, unknown = 1): the
unknown part is ``(sum v)^2 - (sum_E v)^2``, the known part
``sum_i v_i^2 + sum_{i != j} v_i v_j max(b_i . b_j, 0)`` is summed over the pairs in blocks
of rows (``O(N K)`` memory; ``N^2 K / 2`` multiply-adds, the one step whose time is not
linear: 0.3–1.8 s per session for 10,000 instruments on 2 shared cores,
benchmarks/README.md).

With every return present and ``K`` at least the rank of ``Z`` (e.g. ``N <= K < T``) the
factor model *is* the sample covariance and correlation, equal to the pairwise path to
rounding. With fewer factors it keeps the ``K`` strongest common movements and treats the
rest as specific (uncorrelated) risk; where returns are missing it estimates correlations
through the factors instead of pair by pair. tests/portfolio/test_risk_model.py holds the
agreement bounds with the pairwise path on small books.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TRADING_DAYS = 252
# instruments with returns on at least this share of the lookback's dates define the factors
CORE_SHARE = 0.9
# rows of the b_i . b_j block at a time: ~ BLOCK_CELLS cells (8 bytes each) in memory
BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class PairwiseRisk:
    """Pairwise sample covariance (annualised) and correlation, indexed by symbol."""

    covariance: pd.DataFrame
    correlation: pd.DataFrame

    def portfolio_variance(self, notional: pd.Series) -> float:
        """``N' Σ N`` (annualised); instruments without a variance estimate are skipped,
        unknown covariances count as 0."""
        cov = self.covariance
        known = cov.index[np.isfinite(np.diag(cov.to_numpy()))]
        n = notional.reindex(known).fillna(0.0).to_numpy()
        return float(max(n @ cov.loc[known, known].fillna(0.0).to_numpy() @ n, 0.0))

    def diversification_variance(self, weights: pd.Series) -> float:
        """``v' C+ v``: correlations floored at 0 and capped at 1, unknown ones 1."""
        corr = self.correlation.reindex(index=weights.index, columns=weights.index)
        return float(floored_correlation_form(corr.to_numpy(dtype=float),
                                              weights.to_numpy(dtype=float)))


@dataclass(frozen=True)
class FactorRisk:
    """Statistical factor model: per symbol an annualised volatility ``sigma`` (NaN where
    not estimable) and correlation loadings ``loadings`` (``N x K``, zero rows where not
    estimable)."""

    symbols: pd.Index
    sigma: np.ndarray
    loadings: np.ndarray

    @property
    def specific(self) -> np.ndarray:
        """Share of each instrument's variance the factors leave unexplained."""
        return np.clip(1.0 - (self.loadings**2).sum(axis=1), 0.0, 1.0)

    def portfolio_variance(self, notional: pd.Series) -> float:
        """``|B' y|^2 + sum y_i^2 (1 - |b_i|^2)``, ``y = sigma * N`` over the estimable
        instruments (the others are skipped)."""
        n = notional.reindex(self.symbols).fillna(0.0).to_numpy(dtype=float)
        y = np.where(np.isfinite(self.sigma), self.sigma * n, 0.0)
        common = self.loadings.T @ y
        return float(common @ common + (y**2 * self.specific).sum())

    def diversification_variance(self, weights: pd.Series) -> float:
        """``v' C+ v`` with ``c_ij = max(b_i . b_j, 0)``, ``c_ii = 1``; an instrument
        without an estimate (not estimable, or absent from the lookback) is correlated 1
        with every instrument."""
        v = weights.to_numpy(dtype=float)
        position = self.symbols.get_indexer(weights.index)
        known = position >= 0
        known[known] = np.isfinite(self.sigma[position[known]])
        total, total_known = v.sum(), v[known].sum()
        rows = self.loadings[position[known]]
        return float(floored_gram_form(rows, v[known]) + total**2 - total_known**2)


def floored_correlation_form(correlation: np.ndarray, weights: np.ndarray) -> float:
    """``w' C w`` with ``C`` clipped to [0, 1], NaN counted as 1 and a unit diagonal."""
    corr = np.clip(np.nan_to_num(np.asarray(correlation, dtype=float), nan=1.0), 0.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    w = np.asarray(weights, dtype=float)
    return float(w @ corr @ w)


def floored_gram_form(loadings: np.ndarray, weights: np.ndarray) -> float:
    """``sum_i w_i^2 + sum_{i != j} w_i w_j max(b_i . b_j, 0)`` over the rows ``b_i`` of
    ``loadings``: the upper triangle in blocks of rows (never the whole ``n x n``
    matrix), each pair once."""
    n = len(weights)
    step = max(1, BLOCK_CELLS // max(n, 1))
    total = 0.0
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = loadings[start:stop] @ loadings[start:].T
        np.maximum(block, 0.0, out=block)
        square = block[:, :stop - start]
        square[np.tril_indices(stop - start, -1)] = 0.0
        np.fill_diagonal(square, 0.0)
        total += 2.0 * float(weights[start:stop] @ (block @ weights[start:]))
    return total + float(weights @ weights)


def _factors(z: np.ndarray, n_factors: int) -> np.ndarray:
    """The leading ``K`` left singular vectors of ``z`` (``T x K``, orthonormal), from the
    eigenvectors of ``z z'``; ``K`` at most ``n_factors`` and the numerical rank."""
    gram = z @ z.T
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    if len(values) == 0 or values[0] <= 0:
        return np.zeros((z.shape[0], 0))
    rank = int((values > values[0] * len(values) * np.finfo(float).eps).sum())
    return vectors[:, :min(n_factors, rank)]


def _solve(gram: np.ndarray, rhs: np.ndarray, well_posed: np.ndarray) -> np.ndarray:
    """``gram[p] x[p] = rhs[p]`` for a stack of small symmetric systems (``P x K x K``,
    ``P x K``), as ``P x K x 1``: LU where ``well_posed`` (enough dates for the factors), the
    pseudo-inverse (least-norm solution) elsewhere or where LU fails."""
    out = np.empty((*rhs.shape, 1))
    rest = ~well_posed
    if well_posed.any():
        try:
            out[well_posed] = np.linalg.solve(gram[well_posed], rhs[well_posed][:, :, None])
        except np.linalg.LinAlgError:
            rest = np.ones_like(well_posed)
    if rest.any():
        out[rest] = np.linalg.pinv(gram[rest], hermitian=True) @ rhs[rest][:, :, None]
    return out


def _loadings(z: np.ndarray, observed: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Correlation loadings ``b_i`` (``N x K``): least squares (with an intercept) of each
    column's observed ``z`` on the factors over its own dates. With ``z`` 0 where missing
    (and summing to 0) and orthonormal, centred factors ``U``, the normal equations are
    ``(I - U_m' U_m - n_o u u') gamma = U' z`` (``U_m``: the factor rows of the column's
    missing dates, ``u`` the factors' mean over its ``n_o`` observed dates), solved for all
    columns at once."""
    n_obs = observed.sum(axis=0)
    k = factors.shape[1]
    gamma = factors.T @ z                                   # K x N; exact where complete
    explained = (gamma**2).sum(axis=0)
    partial = np.flatnonzero(n_obs < len(z))
    if len(partial) and k:
        outer = (factors[:, :, None] * factors[:, None, :]).reshape(len(z), k * k)
        missing = (~observed[:, partial]).astype(float)
        gram = (np.eye(k).reshape(k * k, 1) - outer.T @ missing).T.reshape(-1, k, k)
        # with an intercept: the factors centred over the column's own dates
        mean = -(factors.T @ missing).T / n_obs[partial, None]
        gram -= n_obs[partial, None, None] * mean[:, :, None] * mean[:, None, :]
        solved = _solve(gram, gamma[:, partial].T, n_obs[partial] >= 2 * k)
        gamma[:, partial] = solved[:, :, 0].T
        explained[partial] = np.einsum("pk,pkl,pl->p", solved[:, :, 0], gram, solved[:, :, 0])
    explained = np.clip(explained / (n_obs - 1), 0.0, 1.0)
    norm = np.sqrt((gamma**2).sum(axis=0))
    scale = np.divide(np.sqrt(explained), norm, out=np.zeros_like(norm), where=norm > 0)
    return (gamma * scale).T


def factor_risk(returns: pd.DataFrame, *, min_observations: int, n_factors: int) -> FactorRisk:
    """The statistical factor model of ``returns`` (dates x symbols, daily, NaN where
    missing); see the module docstring."""
    x = returns.to_numpy(dtype=float)
    observed = np.isfinite(x)
    count = observed.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(x, axis=0) / count
        centred = np.where(observed, x - mean, 0.0)
        sd = np.sqrt((centred**2).sum(axis=0) / (count - 1))
    estimable = (count >= max(min_observations, 2)) & (sd > 0)
    sigma = np.where(estimable, sd * np.sqrt(TRADING_DAYS), np.nan)
    loadings = np.zeros((x.shape[1], 0))
    if estimable.any():
        z = centred[:, estimable] / sd[estimable]
        share = count[estimable] / len(x)
        core = share >= CORE_SHARE if (share >= CORE_SHARE).any() else share > 0
        factors = _factors(z[:, core], n_factors)
        loadings = np.zeros((x.shape[1], factors.shape[1]))
        loadings[estimable] = _loadings(z, observed[:, estimable], factors)
    return FactorRisk(symbols=returns.columns, sigma=sigma, loadings=loadings)


def pairwise_risk(returns: pd.DataFrame, *, min_observations: int) -> PairwiseRisk:
    """Pairwise sample covariance (annualised) and correlation of ``returns``."""
    return PairwiseRisk(covariance=returns.cov(min_periods=min_observations) * TRADING_DAYS,
                        correlation=returns.corr(min_periods=min_observations))


def estimate_risk(returns: pd.DataFrame, *, min_observations: int, n_factors: int,
                  pairwise_max_instruments: int) -> PairwiseRisk | FactorRisk:
    """The pairwise estimate for up to ``pairwise_max_instruments`` instruments, the
    factor model above."""
    if returns.shape[1] <= pairwise_max_instruments:
        return pairwise_risk(returns, min_observations=min_observations)
    return factor_risk(returns, min_observations=min_observations, n_factors=n_factors)
