"""Tests of point-in-time economic data. Shared helpers: a test series and raw vintage inserts (bypassing the CSV loader)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import psycopg

SOURCE = "test_econ"


def create_series(conn: psycopg.Connection, series_id: str, frequency: str = "monthly") -> None:
    """Create the test data source (once) and one economic series."""
    conn.execute("""INSERT INTO data_sources (source_id, kind, adapter, enabled)
                    VALUES (%s, 'economic', 'test', false) ON CONFLICT DO NOTHING""", (SOURCE,))
    conn.execute("""INSERT INTO economic_series (series_id, name, frequency, units, source_id)
                    VALUES (%s, %s, %s, 'index', %s)""",
                 (series_id, f"test {series_id}", frequency, SOURCE))


def insert_vintages(conn: psycopg.Connection, series_id: str,
                    rows: Iterable[tuple[date, date, float]]) -> None:
    """Insert (observation_date, realtime_start, value) vintages of ``series_id``."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO economic_indicators
                   (series_id, observation_date, realtime_start, value, vintage_kind, source_id)
               VALUES (%s, %s, %s, %s, 'vintage', %s)""",
            [(series_id, obs, rt, value, SOURCE) for obs, rt, value in rows])
