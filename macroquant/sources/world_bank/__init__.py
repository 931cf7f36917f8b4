"""World Bank source adapter (WDI, annual, no vintages: a publication lag stands in).

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
from macroquant.sources.world_bank import client, parse
from macroquant.sources.world_bank.config import (
    DATA_SOURCE,
    DEFAULT_CONFIG,
    SOURCE_ID,
    WorldBankConfig,
    WorldBankSeries,
)

__all__ = ["SOURCE_ID", "fetch_observations", "load_config", "register"]


def load_config(stored: dict[str, Any] | None) -> WorldBankConfig:
    """Defaults overridden by the data_sources row's ``config`` JSON."""
    return merged_config(WorldBankConfig, DEFAULT_CONFIG, stored, SOURCE_ID)


def _series_row(s: WorldBankSeries) -> dict[str, Any]:
    """The economic_series row of one configured series."""
    return {"series_id": s.series_id, "name": s.name, "frequency": "annual",
            "units": s.units, "asset_class": None,
            "publication_lag_days": s.publication_lag_days,
            "notes": f"World Bank {s.indicator} for {s.economy}; no vintages: public "
                     f"{s.publication_lag_days} days after the year ends"}


def register(conn: psycopg.Connection, config: WorldBankConfig | None = None) -> None:
    """Upsert the ``world_bank`` data_sources row and its economic_series rows."""
    register_source_with_series(conn, DATA_SOURCE, config, load_config, _series_row)


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       config: WorldBankConfig | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Yearly observations of the configured series (``start``..``end`` years when
    given), public (realtime_start) by ``end`` when it is given."""
    config = given_config(WorldBankConfig, DEFAULT_CONFIG, config, SOURCE_ID)
    if config is None:
        stored, _ = stored_config_and_key(SOURCE_ID, None, need_key=False)
        config = load_config(stored)
    years = None
    if start is not None or end is not None:
        first = start.year if start is not None else 1960
        last = end.year if end is not None else first + 100
        years = (first, last)
    frames = [parse.observations(s, client.fetch_indicator(config.api_url, s.indicator,
                                                           s.economy, years))
              for s in config.series]
    observations = pd.concat([f for f in frames if not f.empty] or [empty_observations()],
                             ignore_index=True)
    if end is not None:
        observations = observations.loc[observations["realtime_start"] <= pd.Timestamp(end)]
    return observations.reset_index(drop=True)
