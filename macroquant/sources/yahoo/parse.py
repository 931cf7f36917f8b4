"""Yahoo frames (yfinance's columns) → MacroQuant bars and corporate actions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.sources.sample.parse import BAR_COLUMNS

ACTION_COLUMNS = ["symbol", "ex_date", "action", "value"]
INTRADAY_COLUMNS = ["symbol", "bar_time", "open", "high", "low", "close", "volume"]


def _local_dates(index: pd.Index) -> pd.DatetimeIndex:
    """The exchange-local calendar date of each bar (the index is exchange-local)."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    return stamps.normalize()


def daily_bars(symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Daily bars. ``close`` is Yahoo's ``Close`` (adjusted for splits only, as Yahoo serves
    it) and ``adj_close`` its ``Adj Close`` (splits and dividends). Rows whose close is
    missing (Yahoo pads some dates with nulls) are dropped."""
    keep = frame["Close"].notna().to_numpy()
    frame = frame.loc[keep]
    return pd.DataFrame({
        "symbol": symbol,
        "trade_date": _local_dates(frame.index),
        "open": frame["Open"].to_numpy(dtype=float),
        "high": frame["High"].to_numpy(dtype=float),
        "low": frame["Low"].to_numpy(dtype=float),
        "close": frame["Close"].to_numpy(dtype=float),
        "adj_close": frame["Adj Close"].to_numpy(dtype=float),
        "volume": frame["Volume"].to_numpy(dtype=float),
    }, columns=BAR_COLUMNS).reset_index(drop=True)


def corporate_actions(symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Splits (``value`` = new shares per old share, 2.0 for a 2:1 split) and cash dividends
    (``value`` = cash per share), one row per ex-date and action."""
    dates = _local_dates(frame.index)
    parts = []
    for column, action in (("Stock Splits", "split"), ("Dividends", "dividend")):
        values = frame[column].to_numpy(dtype=float)
        hit = np.nan_to_num(values) != 0
        parts.append(pd.DataFrame({"symbol": symbol, "ex_date": dates[hit], "action": action,
                                   "value": values[hit]}))
    actions = pd.concat(parts, ignore_index=True)
    return actions.sort_values(["ex_date", "action"], ignore_index=True)[ACTION_COLUMNS]


def intraday_bars(symbol: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Intraday bars with their start time in UTC."""
    frame = frame.loc[frame["Close"].notna().to_numpy()]
    stamps = pd.DatetimeIndex(frame.index)
    stamps = stamps.tz_convert("UTC") if stamps.tz is not None else stamps.tz_localize("UTC")
    return pd.DataFrame({
        "symbol": symbol, "bar_time": stamps,
        "open": frame["Open"].to_numpy(dtype=float), "high": frame["High"].to_numpy(dtype=float),
        "low": frame["Low"].to_numpy(dtype=float), "close": frame["Close"].to_numpy(dtype=float),
        "volume": frame["Volume"].to_numpy(dtype=float),
    }, columns=INTRADAY_COLUMNS).reset_index(drop=True)
