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


def sma(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Simple moving average: ``rolling(window, min_periods=window).mean()`` (NaN until
    ``window`` values without a gap have been seen)."""
    return prices.rolling(window=window, min_periods=window).mean()


def rolling_zscore(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """``(price - rolling mean) / rolling sample std`` over ``window`` observations."""
    rolling = prices.rolling(window=window, min_periods=window)
    std = rolling.std(ddof=1)
    return (prices - rolling.mean()) / std.where(std > 0)


def rsi(prices: pd.DataFrame, period: int) -> pd.DataFrame:
    """Wilder's relative strength index in [0, 100]: ``100 - 100 / (1 + G / L)`` where ``G``
    and ``L`` are Wilder averages (``alpha = 1 / period``) of daily gains and losses. Seeded
    with the first change rather than TA-Lib's first-``period`` mean; the seed's weight
    decays as ``(1 - 1/period)^n``. 100 when there was no loss, 50 when nothing moved."""
    changes = prices.diff()
    smooth = {"alpha": 1.0 / period, "adjust": False, "min_periods": period}
    gains = changes.clip(lower=0).ewm(**smooth).mean()
    losses = (-changes).clip(lower=0).ewm(**smooth).mean()
    total = gains + losses
    return (100.0 * gains / total.where(total > 0)).where(total.isna() | (total > 0), 50.0)


def channel_high(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Highest value of the ``window`` sessions *before* each date (today excluded, so a
    close above it is a breakout)."""
    return prices.rolling(window=window, min_periods=window).max().shift(1)


def channel_low(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Lowest value of the ``window`` sessions before each date (today excluded)."""
    return prices.rolling(window=window, min_periods=window).min().shift(1)


def momentum(prices: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """Total return over ``lookback`` sessions: ``p_t / p_{t-lookback} - 1``."""
    return prices / prices.shift(lookback) - 1.0


def candlestick(pattern: str, open_: pd.DataFrame, high: pd.DataFrame, low: pd.DataFrame,
                close: pd.DataFrame) -> pd.DataFrame:
    """A TA-Lib candlestick pattern per instrument, scaled to {-1, 0, 1} (TA-Lib reports
    ±100, or ±200 for a confirmed pattern; only the sign is kept). ``pattern`` is a TA-Lib
    function name such as ``CDLENGULFING``; NaN where a bar is incomplete."""
    import talib  # local: only candlestick features need it

    function = getattr(talib, pattern.upper(), None)
    if function is None or not pattern.upper().startswith("CDL"):
        raise ValueError(f"unknown TA-Lib candlestick pattern '{pattern}'")
    out = np.full(close.shape, np.nan)
    columns = [frame.to_numpy(dtype=float) for frame in (open_, high, low, close)]
    complete = np.isfinite(np.stack(columns)).all(axis=0)
    for j in range(close.shape[1]):
        rows = complete[:, j]
        if rows.any():
            o, h, lo, c = (a[rows, j] for a in columns)
            out[rows, j] = np.sign(function(o, h, lo, c))
    return pd.DataFrame(out, index=close.index, columns=close.columns)
