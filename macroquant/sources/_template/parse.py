"""Template parser: vendor records to MacroQuant bar rows."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from macroquant.sources._template.client import VendorBar
from macroquant.sources.sample.parse import BAR_COLUMNS

__all__ = ["BAR_COLUMNS", "bars_from_records"]


def bars_from_records(symbol: str, records: Sequence[VendorBar]) -> pd.DataFrame:
    """One row per record; the vendor gives no adjusted close, so ``adj_close`` is NULL."""
    frame = pd.DataFrame([r.model_dump() for r in records],
                         columns=["date", "open", "high", "low", "close", "volume"])
    return pd.DataFrame({
        "symbol": symbol,
        "trade_date": pd.to_datetime(frame["date"]),
        "open": frame["open"].astype(float), "high": frame["high"].astype(float),
        "low": frame["low"].astype(float), "close": frame["close"].astype(float),
        "adj_close": float("nan"), "volume": frame["volume"].astype(float),
    }, columns=BAR_COLUMNS)
