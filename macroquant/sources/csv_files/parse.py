"""The landing rows of a CSV file in the audit's shape: the adapter's parse step, done by
PostgreSQL (COPY has already read every value; nothing is parsed in Python)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from psycopg import sql

from macroquant.sources.csv_files.config import SOURCE_ID
from macroquant.sources.csv_files.load import landing_rows


def staged_rows(end: date, symbols_present: bool, sessions: Sequence[date]) -> sql.Composable:
    """The landing rows in the audit's shape (:data:`audit.STAGED_COLUMNS`); a missing
    symbol reads as '' unless none is missing.

    A row's ``as_of`` is the first of ``sessions`` (sorted, covering the file's dates) on
    or after its date, found by binary search (``width_bucket`` counts the sessions before
    the date); a row without a date belongs to ``end``. An expression, not a join to a
    temporary table, so PostgreSQL can scan the landing tables with parallel workers.
    """
    symbol = sql.SQL("r.symbol" if symbols_present else "coalesce(r.symbol, '')")
    if not sessions:
        raise ValueError("staged_rows needs the sessions of the file's window")
    days = sql.Literal(list(sessions))  # rendered as a typed array: '{…}'::date[]
    return sql.SQL(
        """SELECT {source}::text AS source_id,
                  coalesce(({days})[width_bucket(r.date - 1, {days}) + 1],
                           {end}) AS as_of,
                  r.line AS row_number, {symbol} AS symbol, r.date AS trade_date,
                  r.open, r.high, r.low, r.close, r.adj_close, r.volume
           FROM ({landing}) r""").format(
        source=sql.Literal(SOURCE_ID), days=days, end=sql.Literal(end), symbol=symbol,
        landing=landing_rows())
