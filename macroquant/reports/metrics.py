"""Performance metrics of a daily return series (pure).

Conventions (see ``docs/metrics.md`` for every formula):

- 252 trading periods a year; simple (not log) periodic returns.
- Risk-free rate 0 unless given; it is an *annual* rate, converted to a per-period rate
  by dividing by 252 (``rf_d = rf / 252``).
- Sample standard deviation (ddof=1).
- Drawdown is relative to the running peak of cumulative wealth, which starts at 1 (a loss
  on the first day is a drawdown).
- NaN-safe: missing returns (NaN) are dropped before any computation, so they count neither
  as a period nor as a zero return. Empty input gives NaN (0 for the drawdown metrics).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252

#: Keys of :func:`compute_metrics`, in order (positions add :data:`POSITION_KEYS`).
METRIC_KEYS: tuple[str, ...] = (
    "total_return", "cagr", "annual_volatility", "sharpe", "sortino", "max_drawdown",
    "max_drawdown_duration", "calmar", "hit_rate", "profit_factor", "beta", "alpha", "days",
)
POSITION_KEYS: tuple[str, ...] = ("turnover", "exposure", "time_in_market")

NAN = float("nan")


def _clean(returns: pd.Series) -> pd.Series:
    """The returns as float with missing values (NaN) dropped."""
    return pd.Series(returns, dtype=float).dropna()


def total_return(returns: pd.Series) -> float:
    """Compounded return over the whole series: ``prod(1 + r) - 1`` (0 for no returns)."""
    return float(np.prod(1.0 + _clean(returns).to_numpy(float)) - 1.0)


def cagr(returns: pd.Series) -> float:
    """Compound annual growth rate, with ``n / 252`` years for ``n`` returns.

    ``(1 + total_return) ** (252 / n) - 1``; -1 when the wealth ends at or below zero, NaN
    for no returns.
    """
    r = _clean(returns)
    if len(r) == 0:
        return NAN
    growth = 1.0 + total_return(r)
    return growth ** (PERIODS_PER_YEAR / len(r)) - 1.0 if growth > 0 else -1.0


def annual_volatility(returns: pd.Series) -> float:
    """Sample standard deviation (ddof=1) of the returns times sqrt(252)."""
    return float(_clean(returns).std(ddof=1) * math.sqrt(PERIODS_PER_YEAR))


def sharpe_ratio(returns: pd.Series, risk_free_rate: float = 0.0) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf/252) / std(r - rf/252, ddof=1) * sqrt(252)``.

    ``risk_free_rate`` is annual. NaN when the std is zero or there are fewer than two returns.
    """
    excess = _clean(returns) - risk_free_rate / PERIODS_PER_YEAR
    std = excess.std(ddof=1)
    if len(excess) < 2 or not std > 0:
        return NAN
    return float(excess.mean() / std * math.sqrt(PERIODS_PER_YEAR))


def downside_deviation(returns: pd.Series, risk_free_rate: float = 0.0) -> float:
    """Annualised downside deviation below the target ``rf/252``.

    ``sqrt(mean(min(r - rf/252, 0) ** 2)) * sqrt(252)``: the mean runs over *all* periods
    (not only the losing ones) and there is no ddof correction. NaN for no returns.
    """
    excess = _clean(returns).to_numpy(float) - risk_free_rate / PERIODS_PER_YEAR
    if len(excess) == 0:
        return NAN
    shortfall = np.minimum(excess, 0.0)
    return float(np.sqrt(np.mean(shortfall**2)) * math.sqrt(PERIODS_PER_YEAR))


def sortino_ratio(returns: pd.Series, risk_free_rate: float = 0.0) -> float:
    """Annualised Sortino ratio: ``mean(r - rf/252) * 252 / downside_deviation``.

    NaN when the downside deviation is zero (no period below the target) or undefined.
    """
    r = _clean(returns)
    dd = downside_deviation(r, risk_free_rate)
    if not dd > 0:
        return NAN
    mean_excess = float(np.mean(r.to_numpy(float) - risk_free_rate / PERIODS_PER_YEAR))
    return mean_excess * PERIODS_PER_YEAR / dd


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown at each date: wealth / running peak - 1 (0 at a new high, negative below).

    The running peak starts at 1 (the initial wealth). A NaN return leaves NaN at its date
    and counts as no change in wealth afterwards.
    """
    wealth = (1.0 + returns).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def max_drawdown(returns: pd.Series) -> float:
    """Deepest drawdown: a fraction in [-1, 0] for returns >= -1 (0 with no returns)."""
    r = _clean(returns)
    return float(drawdown_series(r).min()) if len(r) else 0.0


def max_drawdown_duration(returns: pd.Series) -> int:
    """Longest drawdown, in periods, from its peak to its recovery (or to the end).

    With wealth ``W_0 = 1`` before the first return and ``W_t`` after the ``t``-th, a
    drawdown starts at a peak ``p`` (``W_p`` = running max) and ends at the first ``q > p``
    with ``W_q >= W_p``; its duration is ``q - p``. A drawdown not recovered by the last
    period ``n`` lasts ``n - p``. 0 when the wealth never falls below its running peak.
    """
    r = _clean(returns).to_numpy(float)
    if len(r) == 0:
        return 0
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    at_peak = wealth >= np.maximum.accumulate(wealth)
    index = np.arange(len(wealth))
    last_peak = np.maximum.accumulate(np.where(at_peak, index, 0))
    # Period t is in (or ends) a drawdown if t or t-1 is below the peak; its length so far
    # is t minus the last peak before t.
    under = ~at_peak
    inside = under[1:] | under[:-1]
    lengths = np.where(inside, index[1:] - last_peak[:-1], 0)
    return int(lengths.max())


def calmar_ratio(returns: pd.Series) -> float:
    """``cagr / |max_drawdown|``; NaN when there is no drawdown (or no returns)."""
    mdd = max_drawdown(returns)
    if not mdd < 0:
        return NAN
    return cagr(returns) / abs(mdd)


def hit_rate(returns: pd.Series) -> float:
    """Share of positive returns among the non-zero ones; NaN when all are zero/missing."""
    r = _clean(returns).to_numpy(float)
    nonzero = r[r != 0.0]
    return float(np.mean(nonzero > 0.0)) if len(nonzero) else NAN


def profit_factor(returns: pd.Series) -> float:
    """Sum of positive returns / |sum of negative returns|.

    ``inf`` when there are gains but no losses; NaN when there are neither.
    """
    r = _clean(returns).to_numpy(float)
    gains, losses = float(r[r > 0].sum()), float(-r[r < 0].sum())
    if losses > 0:
        return gains / losses
    return math.inf if gains > 0 else NAN


def _weights(positions: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """Weights as a date x instrument frame: all-NaN dates dropped, other NaN read as 0."""
    frame = positions.to_frame() if isinstance(positions, pd.Series) else positions
    return frame.astype(float).dropna(how="all").fillna(0.0)


def turnover(positions: pd.Series | pd.DataFrame) -> float:
    """Average one-way turnover per period: ``mean_t sum_i |w[t, i] - w[t-1, i]|``.

    ``positions`` holds portfolio weights (fractions of equity), one column per instrument
    (or a Series for one). The mean runs over the ``n - 1`` changes between consecutive
    dates; the initial build-up from zero is not counted. NaN with fewer than two dates.
    """
    w = _weights(positions)
    if len(w) < 2:
        return NAN
    return float(w.diff().iloc[1:].abs().sum(axis=1).mean())


def exposure(positions: pd.Series | pd.DataFrame) -> float:
    """Average gross exposure: ``mean_t sum_i |w[t, i]|`` (1.0 = fully invested, unlevered)."""
    w = _weights(positions)
    return float(w.abs().sum(axis=1).mean()) if len(w) else NAN


def time_in_market(positions: pd.Series | pd.DataFrame) -> float:
    """Fraction of dates with any non-zero weight."""
    w = _weights(positions)
    return float((w != 0.0).any(axis=1).mean()) if len(w) else NAN


def _aligned_excess(
    returns: pd.Series, benchmark: pd.Series, risk_free_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Excess returns of the strategy and the benchmark on the dates both have."""
    both = pd.concat([pd.Series(returns, dtype=float), pd.Series(benchmark, dtype=float)],
                     axis=1, join="inner").dropna()
    rf = risk_free_rate / PERIODS_PER_YEAR
    return both.iloc[:, 0].to_numpy() - rf, both.iloc[:, 1].to_numpy() - rf


def beta(returns: pd.Series, benchmark: pd.Series, risk_free_rate: float = 0.0) -> float:
    """OLS beta ``cov(r, b) / var(b)`` on excess returns, over the dates both series have.

    Series are aligned on their index (inner join) and dates where either is NaN dropped.
    NaN with fewer than two such dates or a constant benchmark.
    """
    r, b = _aligned_excess(returns, benchmark, risk_free_rate)
    if len(r) < 2:
        return NAN
    b_dev = b - b.mean()
    var = float(np.mean(b_dev**2))
    if not var > 0:
        return NAN
    return float(np.mean(b_dev * (r - r.mean())) / var)


def alpha(returns: pd.Series, benchmark: pd.Series, risk_free_rate: float = 0.0) -> float:
    """Annualised (compounded) Jensen's alpha: ``(1 + mean(e)) ** 252 - 1`` where
    ``e = (r - rf/252) - beta * (b - rf/252)`` on the aligned dates."""
    r, b = _aligned_excess(returns, benchmark, risk_free_rate)
    bt = beta(returns, benchmark, risk_free_rate)
    if not np.isfinite(bt):
        return NAN
    return float((1.0 + np.mean(r - bt * b)) ** PERIODS_PER_YEAR - 1.0)


def compute_metrics(
    returns: pd.Series,
    benchmark: pd.Series | None = None,
    risk_free_rate: float = 0.0,
    positions: pd.Series | pd.DataFrame | None = None,
) -> dict[str, float]:
    """All metrics of a return series, under the keys of :data:`METRIC_KEYS` (in order).

    ``beta`` and ``alpha`` are NaN without a benchmark; ``turnover``, ``exposure`` and
    ``time_in_market`` are added when ``positions`` (weights) are given. ``days`` is the
    number of non-missing returns and ``max_drawdown_duration`` is in periods.
    """
    r = _clean(returns)
    out: dict[str, float] = {
        "total_return": total_return(r),
        "cagr": cagr(r),
        "annual_volatility": annual_volatility(r),
        "sharpe": sharpe_ratio(r, risk_free_rate),
        "sortino": sortino_ratio(r, risk_free_rate),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_duration": float(max_drawdown_duration(r)),
        "calmar": calmar_ratio(r),
        "hit_rate": hit_rate(r),
        "profit_factor": profit_factor(r),
        "beta": NAN if benchmark is None else beta(r, benchmark, risk_free_rate),
        "alpha": NAN if benchmark is None else alpha(r, benchmark, risk_free_rate),
        "days": float(len(r)),
    }
    if positions is not None:
        out["turnover"] = turnover(positions)
        out["exposure"] = exposure(positions)
        out["time_in_market"] = time_in_market(positions)
    return out


def summary(returns: pd.Series) -> dict[str, float]:
    """The headline metrics of a return series."""
    r = _clean(returns)
    return {
        "total_return": total_return(r),
        "cagr": cagr(r),
        "annual_volatility": annual_volatility(r),
        "sharpe": sharpe_ratio(r),
        "max_drawdown": max_drawdown(r),
        "days": float(len(r)),
    }
