"""FRED/ALFRED source adapter: every vintage of each configured series (see ``config.py``).

Hooks: :func:`register` (data_sources row, disabled until a key is set and the user enables
it; economic_series rows), :func:`fetch_observations` (every vintage, ``vintage_kind =
'vintage'``) and :func:`sync_releases` (release names and publication dates into
``economic_releases`` / ``economic_release_dates``; run by ``macroquant macro-data fetch
fred --releases``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd
import psycopg

from macroquant.db.bulk import upsert_rows
from macroquant.economics.vendors import (
    empty_observations,
    given_config,
    merged_config,
    register_source_with_series,
    stored_config_and_key,
)
from macroquant.sources.fred import parse
from macroquant.sources.fred.client import AlfredClient
from macroquant.sources.fred.config import (
    DATA_SOURCE,
    DEFAULT_CONFIG,
    SECRET_NAME,
    SOURCE_ID,
    FredConfig,
    FredSeries,
)

__all__ = ["SOURCE_ID", "fetch_observations", "load_config", "register", "sync_releases"]


def load_config(stored: dict[str, Any] | None) -> FredConfig:
    """The source's config: the defaults, with the keys of the data_sources row's
    ``config`` JSON (``series``, ``root_url``, ``timeout_seconds``) replacing them."""
    return merged_config(FredConfig, DEFAULT_CONFIG, stored, SOURCE_ID)


def _series_row(s: FredSeries) -> dict[str, Any]:
    """The economic_series row of one configured series."""
    return {**s.model_dump(exclude={"vendor_id"}), "publication_lag_days": None,
            "notes": s.notes or f"FRED {s.vendor_id}; every ALFRED vintage stored"}


def register(conn: psycopg.Connection, config: FredConfig | None = None) -> None:
    """Upsert the ``fred`` data_sources row and its economic_series rows."""
    register_source_with_series(conn, DATA_SOURCE, config, load_config, _series_row)


def _client(config: FredConfig | Mapping[str, Any] | None,
            api_key: str | None) -> tuple[FredConfig, AlfredClient]:
    config = given_config(FredConfig, DEFAULT_CONFIG, config, SOURCE_ID)
    stored, key = stored_config_and_key(SOURCE_ID, SECRET_NAME, need_config=config is None,
                                        need_key=api_key is None)
    config = config or load_config(stored)
    client = AlfredClient(api_key or key or "", config.root_url, config.timeout_seconds)
    return config, client


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       config: FredConfig | Mapping[str, Any] | None = None,
                       api_key: str | None = None) -> pd.DataFrame:
    """Every ALFRED vintage of the configured series with ``realtime_start <= end``.

    ALFRED has no "changed since" query, so each call reads each series' full vintage
    history (one request per series) and ``start`` does not narrow it; the ingest stage's
    upsert leaves stored vintages untouched. Raises ``SourceError`` (transient for
    429/5xx/timeouts) or ``MissingCredentialError`` (no ``FRED_API_KEY``)."""
    config, client = _client(config, api_key)
    frames = [parse.observations_from_vintages(s.series_id, s.vendor_id,
                                               client.all_releases(s.vendor_id))
              for s in config.series]
    if not frames:
        return empty_observations()
    observations = pd.concat(frames, ignore_index=True)
    if end is not None:
        observations = observations.loc[observations["realtime_start"] <= pd.Timestamp(end)]
    return observations.reset_index(drop=True)


def sync_releases(conn: psycopg.Connection, *,
                  config: FredConfig | Mapping[str, Any] | None = None,
                  api_key: str | None = None) -> dict[str, int]:
    """Fetch each series' release and that release's publication dates and upsert them
    (``economic_releases``, ``economic_release_dates``, ``economic_series_releases``).
    Returns counts of releases and release dates written."""
    config, client = _client(config, api_key)
    register(conn, config)
    written = {"releases": 0, "release_dates": 0}
    for series in config.series:
        written = _sync_release(conn, client, series, written)
    return written


def _sync_release(conn: psycopg.Connection, client: AlfredClient, series: FredSeries,
                  written: dict[str, int]) -> dict[str, int]:
    with conn.transaction():
        release = client.series_release(series.vendor_id)
        releases, dates = parse.release_rows(release, client.release_dates(release.id))
        written["releases"] += upsert_rows(conn, "economic_releases", releases,
                                           ["source_id", "release_id"], ["name", "link"])
        written["release_dates"] += upsert_rows(conn, "economic_release_dates", dates,
                                                ["source_id", "release_id", "release_date"], [])
        upsert_rows(conn, "economic_series_releases",
                    pd.DataFrame([{"series_id": series.series_id, "source_id": SOURCE_ID,
                                   "release_id": release.id,
                                   "vendor_series_id": series.vendor_id}]),
                    ["series_id"], ["source_id", "release_id", "vendor_series_id"])
    return written
