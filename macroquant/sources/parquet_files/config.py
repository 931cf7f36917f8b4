"""Parquet file source: daily bars and economic vintages from Parquet files.

Same columns as the CSV loaders: bars ``symbol, date, open, high, low, close, volume``
(+ optional ``adj_close``), as ``macroquant ingest csv``; economic vintages ``series_id,
date, value, realtime_start``, as ``macroquant ingest econ-csv`` (a revision is a row with a
later ``realtime_start``). The files are listed in the data_sources rows' ``config``
(``{"bars_files": [...], "econ_files": [...]}``); both rows are disabled by default.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

BARS_SOURCE_ID = "parquet"
ECON_SOURCE_ID = "parquet_economic"

DATA_SOURCES: tuple[dict[str, object], ...] = (
    {"source_id": BARS_SOURCE_ID, "kind": "market_data", "adapter": "parquet_files",
     "description": "Daily bars from Parquet files (columns as `ingest csv`)",
     "credentials_ref": None, "rate_limit_per_minute": None, "priority": 50,
     "schedule": None, "enabled": False},
    {"source_id": ECON_SOURCE_ID, "kind": "economic", "adapter": "parquet_files",
     "description": "Economic vintages from Parquet files (columns as `ingest econ-csv`)",
     "credentials_ref": None, "rate_limit_per_minute": None, "priority": 50,
     "schedule": None, "enabled": False},
)

BAR_REQUIRED = ("symbol", "date", "open", "high", "low", "close", "volume")
BAR_OPTIONAL = ("adj_close",)
ECON_REQUIRED = ("series_id", "date", "value", "realtime_start")


class ParquetConfig(BaseModel):
    """The files this source reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bars_files: tuple[Path, ...] = ()
    econ_files: tuple[Path, ...] = ()


DEFAULT_CONFIG = ParquetConfig()
