"""Eurostat source adapter (SDMX 2.1, no vintages: a publication lag stands in).

Hooks: :func:`register` and :func:`fetch_observations` (``vintage_kind =
'publication_lag'``; see ``config.py`` for the lag).
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
from macroquant.sources.eurostat import client, parse
from macroquant.sources.eurostat.config import (
    DATA_SOURCE,
    DEFAULT_CONFIG,
    SOURCE_ID,
    EurostatConfig,
    EurostatSeries,
)

__all__ = ["SOURCE_ID", "fetch_observations", "load_config", "register"]


def load_config(stored: dict[str, Any] | None) -> EurostatConfig:
    """Defaults overridden by the data_sources row's ``config`` JSON."""
    return merged_config(EurostatConfig, DEFAULT_CONFIG, stored, SOURCE_ID)


def _series_row(s: EurostatSeries) -> dict[str, Any]:
    """The economic_series row of one configured series."""
    return {"series_id": s.series_id, "name": s.name, "frequency": s.frequency,
            "units": s.units, "asset_class": None,
            "publication_lag_days": s.publication_lag_days,
            "notes": f"Eurostat {s.dataset} {s.filters}; no vintages: public "
                     f"{s.publication_lag_days} days after the period ends"}


def register(conn: psycopg.Connection, config: EurostatConfig | None = None) -> None:
    """Upsert the ``eurostat`` data_sources row and its economic_series rows."""
    register_source_with_series(conn, DATA_SOURCE, config, load_config, _series_row)


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       config: EurostatConfig | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Observations of the configured series from ``start``'s month on (all periods when
    None), public (realtime_start) by ``end`` when it is given."""
    config = given_config(EurostatConfig, DEFAULT_CONFIG, config, SOURCE_ID)
    if config is None:
        stored, _ = stored_config_and_key(SOURCE_ID, None, need_key=False)
        config = load_config(stored)
    start_period = None
    if start is not None:
        start_period = {"monthly": f"{start:%Y-%m}", "annual": f"{start:%Y}",
                        "quarterly": f"{start.year}-Q{(start.month - 1) // 3 + 1}"}
    frames = [parse.observations(s, client.fetch_dataset(
                  s.dataset, s.filters, start_period[s.frequency] if start_period else None,
                  config.timeout_seconds))
              for s in config.series]
    observations = pd.concat([f for f in frames if not f.empty] or [empty_observations()],
                             ignore_index=True)
    if end is not None:
        observations = observations.loc[observations["realtime_start"] <= pd.Timestamp(end)]
    return observations.reset_index(drop=True)
