"""BLS source adapter (public API v2): CPI and unemployment dated by publication lag.

Hooks: :func:`register` (data_sources row, disabled by default; economic_series rows with
their ``publication_lag_days``) and :func:`fetch_observations` (``vintage_kind =
'publication_lag'``, see ``config.py`` for the lags).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd
import psycopg

from macroquant.economics.vendors import (
    empty_observations,
    given_config,
    merged_config,
    register_source_with_series,
    stored_config_and_key,
)
from macroquant.sources.bls import client, parse
from macroquant.sources.bls.config import (
    DATA_SOURCE,
    DEFAULT_CONFIG,
    MAX_SERIES_PER_REQUEST,
    MAX_YEARS_PER_REQUEST,
    SECRET_NAME,
    SOURCE_ID,
    BlsConfig,
    BlsSeries,
)

__all__ = ["SOURCE_ID", "fetch_observations", "load_config", "register", "year_chunks"]


def load_config(stored: dict[str, Any] | None) -> BlsConfig:
    """Defaults overridden by the data_sources row's ``config`` JSON."""
    return merged_config(BlsConfig, DEFAULT_CONFIG, stored, SOURCE_ID)


def _series_row(s: BlsSeries) -> dict[str, Any]:
    """The economic_series row of one configured series."""
    return {**s.model_dump(exclude={"bls_id"}), "asset_class": None,
            "notes": f"BLS {s.bls_id}; no vintages: available {s.publication_lag_days} days "
                     f"after the period ends. {s.notes}".strip()}


def register(conn: psycopg.Connection, config: BlsConfig | None = None) -> None:
    """Upsert the ``bls`` data_sources row and its economic_series rows."""
    register_source_with_series(conn, DATA_SOURCE, config, load_config, _series_row)


def year_chunks(start: date | None, end: date | None) -> list[tuple[int | None, int | None]]:
    """The (startyear, endyear) of each request: at most 20 years each; ``(None, None)``
    (BLS's default of the latest three years) when no ``start`` is given."""
    if start is None:
        return [(None, None)]
    last = end.year if end is not None else start.year + MAX_YEARS_PER_REQUEST - 1
    return [(year, min(year + MAX_YEARS_PER_REQUEST - 1, last))
            for year in range(start.year, last + 1, MAX_YEARS_PER_REQUEST)]


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       config: BlsConfig | Mapping[str, Any] | None = None,
                       api_key: str | None = None) -> pd.DataFrame:
    """Observations of the configured series from ``start``'s year to ``end``'s year,
    public (realtime_start) by ``end`` when it is given."""
    config = given_config(BlsConfig, DEFAULT_CONFIG, config, SOURCE_ID)
    stored, key = stored_config_and_key(SOURCE_ID, SECRET_NAME, need_config=config is None,
                                        need_key=api_key is None)
    config = config or load_config(stored)
    key = api_key or key or ""
    records = []
    specs = list(config.series)
    for first in range(0, len(specs), MAX_SERIES_PER_REQUEST):
        ids = [s.bls_id for s in specs[first:first + MAX_SERIES_PER_REQUEST]]
        for start_year, end_year in year_chunks(start, end):
            records += client.fetch_series(config.api_url, ids, key, start_year, end_year,
                                           config.timeout_seconds)
    frames = [parse.observations(spec, records) for spec in specs]
    observations = pd.concat([f for f in frames if not f.empty] or [empty_observations()],
                             ignore_index=True)
    if end is not None:
        observations = observations.loc[observations["realtime_start"] <= pd.Timestamp(end)]
    return observations.reset_index(drop=True)
