"""Parquet file source adapter: daily bars and economic vintages from Parquet files.

Hooks: :func:`register` (the ``parquet`` and ``parquet_economic`` data_sources rows, and an
economic_series row for each series id in the configured vintage files), :func:`fetch_bars`
and :func:`fetch_observations`. Errors name the file, the column and the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd
import psycopg

from macroquant.economics.econ_csv import infer_frequency
from macroquant.economics.vendors import (
    given_config,
    merged_config,
    register_source,
    source_row,
    stored_config_and_key,
)
from macroquant.sources.parquet_files import client, parse
from macroquant.sources.parquet_files.client import ParquetFormatError
from macroquant.sources.parquet_files.config import (
    BARS_SOURCE_ID,
    DATA_SOURCES,
    DEFAULT_CONFIG,
    ECON_SOURCE_ID,
    ParquetConfig,
)

__all__ = ["BARS_SOURCE_ID", "ECON_SOURCE_ID", "ParquetFormatError", "fetch_bars",
           "fetch_observations", "load_config", "register"]


def load_config(stored: dict[str, Any] | None) -> ParquetConfig:
    """Defaults overridden by the ``parquet`` row's ``config`` JSON."""
    return merged_config(ParquetConfig, DEFAULT_CONFIG, stored, BARS_SOURCE_ID)


def _config(config: ParquetConfig | Mapping[str, Any] | None) -> ParquetConfig:
    config = given_config(ParquetConfig, DEFAULT_CONFIG, config, BARS_SOURCE_ID)
    if config is not None:
        return config
    stored, _ = stored_config_and_key(BARS_SOURCE_ID, None, need_key=False)
    return load_config(stored)


def _vintages(config: ParquetConfig) -> pd.DataFrame:
    frames = [client.read_vintages(path) for path in config.econ_files]
    if not frames:
        return pd.DataFrame(columns=["series_id", "date", "realtime_start", "value"])
    return pd.concat(frames, ignore_index=True)


def register(conn: psycopg.Connection, config: ParquetConfig | None = None) -> None:
    """Upsert both data_sources rows and create the series of the vintage files (name =
    id, frequency inferred from the dates); existing series are left as they are."""
    with conn.transaction():
        for row in DATA_SOURCES:
            register_source(conn, row)
        config = config or load_config(
            (source_row(conn, BARS_SOURCE_ID) or {}).get("config"))
        if not config.econ_files:
            return
        vintages = _vintages(config)
        for series_id, dates in vintages.groupby("series_id")["date"]:
            conn.execute(
                """INSERT INTO economic_series (series_id, name, frequency, units, source_id,
                                                notes)
                   VALUES (%s, %s, %s, 'unspecified', %s, %s)
                   ON CONFLICT (series_id) DO NOTHING""",
                (series_id, series_id, infer_frequency(dates), ECON_SOURCE_ID,
                 "created from a Parquet vintage file; frequency inferred from the dates"))


def fetch_bars(start: date, end: date, *,
               config: ParquetConfig | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Bars of the configured files with ``start <= trade_date <= end``."""
    config = _config(config)
    frames = [parse.bars(client.read_bars(path)) for path in config.bars_files]
    if not frames:
        return pd.DataFrame(columns=parse.BAR_COLUMNS)
    bars = pd.concat(frames, ignore_index=True)
    dates = bars["trade_date"]
    keep = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
    return bars.loc[keep].reset_index(drop=True)


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       config: ParquetConfig | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every vintage in the configured files, public (realtime_start) by ``end`` when
    given."""
    rows = parse.observations(_vintages(_config(config)))
    if end is not None:
        rows = rows.loc[rows["realtime_start"] <= pd.Timestamp(end)]
    return rows.reset_index(drop=True)
