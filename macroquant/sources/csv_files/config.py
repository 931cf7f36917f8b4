"""CSV file source: the ``data_sources`` row, the file layout and the load options.

A CSV file is loaded on demand (``macroquant ingest csv FILE``), never by the scheduled
ingest stage, so its ``data_sources`` row is registered with ``enabled = false``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

SOURCE_ID = "csv"
# quarantine dataset of rows that could not be read at all (they never reach staging)
MALFORMED_DATASET = "csv_file"

DATA_SOURCE: dict[str, object] = {
    "source_id": SOURCE_ID,
    "kind": "market_data",
    "adapter": "csv_files",
    "description": "Daily bars loaded from CSV files by `macroquant ingest csv FILE`",
    "priority": 50,
    "enabled": False,
}

REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close",
                                     "volume")
OPTIONAL_COLUMNS: tuple[str, ...] = ("adj_close",)
NUMERIC_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")
DATE_FORMAT = "%Y-%m-%d"

AssetClass = Literal["equity_index", "single_stock", "fx", "commodity", "volatility",
                     "rates_credit", "crypto"]


class CsvLoadOptions(BaseModel):
    """How symbols first seen in a file are created in ``instruments``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_class: AssetClass = "single_stock"
    currency: str = "USD"
    lot_size: float = 1.0

    @field_validator("currency")
    @classmethod
    def _three_letters(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"currency must be a 3-letter ISO code, got {value!r}")
        return value.upper()
