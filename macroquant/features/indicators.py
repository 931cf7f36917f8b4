"""Pure indicator functions on wide panels (DatetimeIndex × one column per instrument).

No database, no clock: frames in, frames out. NaN marks "not enough history yet".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252


def ewma(prices: pd.DataFrame, span: int) -> pd.DataFrame:
    """Exponentially weighted moving average, ``alpha = 2 / (span + 1)``, recursive form
    (``m_t = alpha * x_t + (1 - alpha) * m_{t-1}``, seeded with the first value); NaN until
    ``span`` observations have been seen."""
    return prices.ewm(span=span, adjust=False, min_periods=span).mean()


def ewma_volatility(changes: pd.DataFrame, span: int) -> pd.DataFrame:
    """Daily volatility as the root of an EWMA of squared changes (zero-mean, RiskMetrics
    style): ``v_t = alpha * x_t**2 + (1 - alpha) * v_{t-1}``, ``sigma_t = sqrt(v_t)``."""
    return np.sqrt((changes**2).ewm(span=span, adjust=False, min_periods=span).mean())


def price_volatility(prices: pd.DataFrame, span: int) -> pd.DataFrame:
    """Daily volatility of price changes, in price units."""
    return ewma_volatility(prices.diff(), span)


def return_volatility(prices: pd.DataFrame, span: int) -> pd.DataFrame:
    """Annualised volatility of daily returns (a fraction: 0.2 is 20% a year)."""
    return ewma_volatility(prices.pct_change(fill_method=None), span) * np.sqrt(
        TRADING_DAYS_PER_YEAR
    )


def rolling_zscore(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """``(price - rolling mean) / rolling sample std`` over ``window`` observations."""
    rolling = prices.rolling(window=window, min_periods=window)
    std = rolling.std(ddof=1)
    return (prices - rolling.mean()) / std.where(std > 0)
