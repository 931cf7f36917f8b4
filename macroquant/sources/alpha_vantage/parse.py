"""Alpha Vantage records → MacroQuant bars and economic observations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from macroquant.sources.alpha_vantage.client import DailyAdjustedBar, FxDailyBar, IndicatorPoint
from macroquant.sources.sample.parse import BAR_COLUMNS, observations_from_monthly


def bars_from_daily_adjusted(symbol: str, records: Sequence[DailyAdjustedBar]) -> pd.DataFrame:
    """Raw OHLCV plus Alpha Vantage's split- and dividend-adjusted close."""
    frame = pd.DataFrame([r.model_dump() for r in records],
                         columns=list(DailyAdjustedBar.model_fields))
    return pd.DataFrame({
        "symbol": symbol, "trade_date": pd.to_datetime(frame["date"]),
        "open": frame["open"].astype(float), "high": frame["high"].astype(float),
        "low": frame["low"].astype(float), "close": frame["close"].astype(float),
        "adj_close": frame["adjusted_close"].astype(float),
        "volume": frame["volume"].astype(float),
    }, columns=BAR_COLUMNS)


def bars_from_fx_daily(symbol: str, records: Sequence[FxDailyBar]) -> pd.DataFrame:
    """FX bars: no volume, and the close is its own adjusted close."""
    frame = pd.DataFrame([r.model_dump() for r in records], columns=list(FxDailyBar.model_fields))
    close = frame["close"].astype(float)
    return pd.DataFrame({
        "symbol": symbol, "trade_date": pd.to_datetime(frame["date"]),
        "open": frame["open"].astype(float), "high": frame["high"].astype(float),
        "low": frame["low"].astype(float), "close": close, "adj_close": close,
        "volume": np.nan,
    }, columns=BAR_COLUMNS)


def observations_from_indicator(series_id: str, points: Sequence[IndicatorPoint],
                                frequency: str, lag_days: int) -> pd.DataFrame:
    """Observations dated at the period's first day (Alpha Vantage's ``date``), public
    ``lag_days`` after the period ends; Alpha Vantage's "." (no value) is dropped."""
    values = pd.Series({pd.Timestamp(p.date): p.value for p in points}, dtype=object)
    values = pd.to_numeric(values.replace(".", np.nan)).dropna().sort_index()
    if frequency == "monthly":
        return observations_from_monthly(series_id, values, lag_days)
    periods = pd.PeriodIndex(values.index, freq="Q" if frequency == "quarterly" else "Y")
    return pd.DataFrame({
        "series_id": series_id,
        "observation_date": periods.start_time.normalize(),
        "realtime_start": periods.end_time.normalize() + pd.Timedelta(days=lag_days),
        "value": values.to_numpy(dtype=float),
    })
