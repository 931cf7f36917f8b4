"""Performance metrics of a daily return series (pure).

Conventions: 252 trading periods a year; simple daily returns; risk-free rate 0 unless
given (annual, converted to a daily rate by dividing by 252); sample standard deviation
(ddof=1); drawdown relative to the running peak of cumulative wealth, starting at 1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252


def total_return(returns: pd.Series) -> float:
    """Compounded return over the whole series."""
    return float(np.prod(1.0 + returns.to_numpy(float)) - 1.0)


def cagr(returns: pd.Series) -> float:
    """Compound annual growth rate, with ``len(returns) / 252`` years."""
    if len(returns) == 0:
        return float("nan")
    growth = 1.0 + total_return(returns)
    return growth ** (PERIODS_PER_YEAR / len(returns)) - 1.0 if growth > 0 else -1.0


def annual_volatility(returns: pd.Series) -> float:
    """Sample standard deviation of daily returns times sqrt(252)."""
    return float(returns.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR))


def sharpe_ratio(returns: pd.Series, risk_free_rate: float = 0.0) -> float:
    """Annualised Sharpe ratio: mean excess daily return / its sample std * sqrt(252);
    NaN when the std is zero or there are fewer than two returns."""
    excess = returns - risk_free_rate / PERIODS_PER_YEAR
    std = excess.std(ddof=1)
    if len(excess) < 2 or not std > 0:
        return float("nan")
    return float(excess.mean() / std * math.sqrt(PERIODS_PER_YEAR))


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown at each date: wealth / running peak - 1 (0 at a new high, negative below)."""
    wealth = (1.0 + returns).cumprod()
    peak = np.maximum(wealth.cummax(), 1.0)
    return wealth / peak - 1.0


def max_drawdown(returns: pd.Series) -> float:
    """Deepest drawdown (a negative fraction, or 0)."""
    return float(drawdown_series(returns).min()) if len(returns) else 0.0


def summary(returns: pd.Series) -> dict[str, float]:
    """The headline metrics of a return series."""
    return {
        "total_return": total_return(returns),
        "cagr": cagr(returns),
        "annual_volatility": annual_volatility(returns),
        "sharpe": sharpe_ratio(returns),
        "max_drawdown": max_drawdown(returns),
        "days": float(len(returns)),
    }
