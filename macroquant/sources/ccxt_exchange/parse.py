"""ccxt candles → MacroQuant daily and intraday bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from macroquant.sources.ccxt_exchange.client import Candle
from macroquant.sources.sample.parse import BAR_COLUMNS

INTRADAY_COLUMNS = ["symbol", "bar_time", "open", "high", "low", "close", "volume"]


def _frame(records: Sequence[Candle]) -> pd.DataFrame:
    return pd.DataFrame([r.model_dump() for r in records], columns=list(Candle.model_fields))


def daily_bars(symbol: str, records: Sequence[Candle]) -> pd.DataFrame:
    """One bar per UTC day, dated by the UTC date the candle opens; a spot market has no
    adjustments, so ``adj_close`` is the close."""
    frame = _frame(records)
    opened = pd.to_datetime(frame["timestamp"].to_numpy(dtype=np.int64), unit="ms")
    return pd.DataFrame({
        "symbol": symbol, "trade_date": opened.normalize(),
        "open": frame["open"].to_numpy(float), "high": frame["high"].to_numpy(float),
        "low": frame["low"].to_numpy(float), "close": frame["close"].to_numpy(float),
        "adj_close": frame["close"].to_numpy(float), "volume": frame["volume"].to_numpy(float),
    }, columns=BAR_COLUMNS)


def intraday_bars(symbol: str, records: Sequence[Candle]) -> pd.DataFrame:
    """Intraday bars with their opening time in UTC."""
    frame = _frame(records)
    return pd.DataFrame({
        "symbol": symbol,
        "bar_time": pd.to_datetime(frame["timestamp"].to_numpy(dtype=np.int64), unit="ms",
                                   utc=True),
        "open": frame["open"].to_numpy(float), "high": frame["high"].to_numpy(float),
        "low": frame["low"].to_numpy(float), "close": frame["close"].to_numpy(float),
        "volume": frame["volume"].to_numpy(float),
    }, columns=INTRADAY_COLUMNS)
