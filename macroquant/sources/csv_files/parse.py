"""The landing rows of a CSV file in the audit's shape: the adapter's parse step, done by
PostgreSQL (COPY has already read every value; nothing is parsed in Python)."""

from __future__ import annotations

from datetime import date

from psycopg import sql

from macroquant.sources.csv_files.config import SOURCE_ID
from macroquant.sources.csv_files.load import landing_rows


def staged_rows(end: date, symbols_present: bool) -> sql.Composable:
    """The landing rows in the audit's shape (:data:`audit.STAGED_COLUMNS`); a missing
    symbol reads as '' unless none is missing."""
    symbol = sql.SQL("r.symbol" if symbols_present else "coalesce(r.symbol, '')")
    return sql.SQL(
        """SELECT {source}::text AS source_id, coalesce(m.as_of, {end}) AS as_of,
                  r.line AS row_number, {symbol} AS symbol, r.date AS trade_date,
                  r.open, r.high, r.low, r.close, r.adj_close, r.volume
           FROM ({landing}) r LEFT JOIN _csv_as_of m ON m.trade_date = r.date""").format(
        source=sql.Literal(SOURCE_ID), end=sql.Literal(end), symbol=symbol,
        landing=landing_rows())
