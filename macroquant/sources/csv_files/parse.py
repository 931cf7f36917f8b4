"""Convert a read CSV frame into ``market_data_staging`` rows."""

from __future__ import annotations

from datetime import date

import pandas as pd

from macroquant.calendars import session_on_or_after
from macroquant.pipeline.ingest import STAGING_COLUMNS, assign_as_of
from macroquant.sources.csv_files.config import SOURCE_ID


def staging_window(trade_dates: pd.Series) -> tuple[date, date]:
    """The pipeline dates a file's bars belong to: the first XNYS session on or after its
    earliest bar through the first session on or after its latest bar."""
    return (session_on_or_after(trade_dates.min().date()),
            session_on_or_after(trade_dates.max().date()))


def bars_to_staging(frame: pd.DataFrame) -> tuple[pd.DataFrame, date, date]:
    """Staging rows for the file (``as_of`` = first session on or after the bar's date,
    ``row_number`` = the bar's line in the file) and the window they span."""
    start, end = staging_window(frame["date"])
    staged = pd.DataFrame({
        "source_id": SOURCE_ID,
        "as_of": assign_as_of(frame["date"], start, end),
        "row_number": frame["line"],
        "symbol": frame["symbol"],
        "trade_date": frame["date"],
        "open": frame["open"],
        "high": frame["high"],
        "low": frame["low"],
        "close": frame["close"],
        "adj_close": frame["adj_close"],
        "volume": frame["volume"],
    })
    return staged[STAGING_COLUMNS], start, end
