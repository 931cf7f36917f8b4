"""Checked Parquet frames → the hooks' domain rows."""

from __future__ import annotations

import pandas as pd

from macroquant.economics.vendors import OBSERVATION_COLUMNS
from macroquant.sources.parquet_files.config import ECON_SOURCE_ID

BAR_COLUMNS = ["symbol", "trade_date", "open", "high", "low", "close", "adj_close", "volume"]


def bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Bars with the ``fetch_bars`` hook's columns."""
    return frame.rename(columns={"date": "trade_date"})[BAR_COLUMNS]


def observations(frame: pd.DataFrame) -> pd.DataFrame:
    """Vintages with the ``fetch_observations`` hook's columns (``vintage_kind =
    'vintage'``: the file states when each value became public)."""
    out = frame.rename(columns={"date": "observation_date"})
    out["vintage_kind"] = "vintage"
    out["source_id"] = ECON_SOURCE_ID
    return out[OBSERVATION_COLUMNS]
