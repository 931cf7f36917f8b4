"""What economic series are stored: source, vintage kind, rows and the latest vintage."""

from __future__ import annotations

import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame

_SERIES_SQL = """
SELECT s.series_id, s.source_id, s.frequency, s.publication_lag_days,
       COALESCE(k.kinds, '-') AS vintage_kind, COALESCE(k.rows, 0) AS rows,
       k.last_observation, k.last_realtime_start
  FROM economic_series s
  LEFT JOIN (SELECT series_id, string_agg(DISTINCT vintage_kind, ',') AS kinds,
                    count(*) AS rows, max(observation_date) AS last_observation,
                    max(realtime_start) AS last_realtime_start
               FROM economic_indicators GROUP BY series_id) k USING (series_id)
 ORDER BY s.source_id, s.series_id
"""


def list_series(conn: psycopg.Connection) -> pd.DataFrame:
    """One row per economic series: ``series_id, source_id, frequency,
    publication_lag_days, vintage_kind`` (kinds of its stored rows), ``rows``,
    ``last_observation`` and ``last_realtime_start`` (None when nothing is stored)."""
    return read_frame(conn, _SERIES_SQL)


def format_series(frame: pd.DataFrame) -> str:
    """A fixed-width table of :func:`list_series`."""
    if frame.empty:
        return "no economic series (load some with `macroquant ingest`)"
    shown = frame.assign(
        publication_lag_days=frame["publication_lag_days"].map(
            lambda v: "-" if pd.isna(v) else f"{int(v)}d"),
        last_observation=frame["last_observation"].map(lambda v: "-" if pd.isna(v) else str(v)),
        last_realtime_start=frame["last_realtime_start"].map(
            lambda v: "-" if pd.isna(v) else str(v)))
    shown.columns = ["series", "source", "frequency", "lag", "vintage kind", "rows",
                     "last observation", "last realtime_start"]
    return shown.to_string(index=False)
