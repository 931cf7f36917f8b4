"""Write–audit–publish in PostgreSQL: set-based checks over staged bars, quarantine, publish.

The staged rows never travel to Python. Every gate check is one SQL expression evaluated
in one scan of ``market_data_staging`` (plus one aggregate for duplicates and one anti-join
for unknown symbols); reasons are formatted only for failing rows; the passing rows are
published with ``INSERT … SELECT`` / ``UPDATE … FROM`` inside the server, so no float is
formatted or parsed on the way.

The gate checks are the same as :func:`macroquant.validation.checks.run_checks` (the pandas
reference implementation); ``tests/validation/test_sql_checks.py`` runs both over the same
rows and asserts they agree.

Temporary objects (dropped at commit):

- ``_audit_rows``: the window's staged rows, NaN read as NULL (a view);
- ``_audit_failures``: one row per (staged row, failed check) with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql

DATASET = "market_data"
# Gate checks in the order they are reported; a failing row is quarantined.
GATE_CHECKS: tuple[str, ...] = ("unknown_instrument", "missing_values", "non_positive_price",
                                "ohlc_consistency", "duplicate", "future_timestamp")
VALUE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "adj_close", "volume")

# A cheap test that a row fails at least one row-local check: only those rows are expanded
# into (row, check, reason) and get a reason formatted.
_ANY_ROW_FAILURE = """r.close IS NULL OR r.trade_date IS NULL OR r.symbol IS NULL
    OR num_nulls(r.open, r.high, r.low) IN (1, 2)
    OR least(r.open, r.high, r.low, r.close, r.adj_close) <= 0 OR r.volume < 0
    OR (r.high IS NOT NULL AND (r.high < greatest(r.open, r.close, r.low) - 1e-9
                                OR r.low > least(r.open, r.close, r.high) + 1e-9))
    OR r.trade_date > r.as_of"""

# Row-local gate checks: (name, SQL expression giving the reason when the row fails, else
# NULL). The expressions read the NaN-free view ``_audit_rows``.
_ROW_CHECKS: tuple[tuple[str, str], ...] = (
    ("missing_values",
     """CASE WHEN r.close IS NULL THEN 'close is missing'
             WHEN r.trade_date IS NULL THEN 'trade_date is missing'
             WHEN r.symbol IS NULL THEN 'symbol is missing'
             WHEN num_nulls(r.open, r.high, r.low) IN (1, 2)
                  THEN 'only some of open/high/low are present' END"""),
    ("non_positive_price",
     """CASE WHEN least(r.open, r.high, r.low, r.close, r.adj_close) <= 0
                  THEN 'non-positive price'
             WHEN r.volume < 0 THEN 'negative volume' END"""),
    ("ohlc_consistency",
     """CASE WHEN r.high IS NOT NULL
                   AND (r.high < greatest(r.open, r.close, r.low) - 1e-9
                        OR r.low > least(r.open, r.close, r.high) + 1e-9)
             THEN format('high %s / low %s inconsistent with open %s close %s',
                         r.high, r.low, r.open, r.close) END"""),
    ("future_timestamp",
     """CASE WHEN r.trade_date > r.as_of
             THEN format('trade_date %s is after as_of %s', r.trade_date, r.as_of) END"""),
)


@dataclass(frozen=True)
class AuditCounts:
    """What one audit saw: rows in = published + quarantined."""

    rows_in: int
    quarantined: int
    failures_by_check: dict[str, int]

    @property
    def published(self) -> int:
        return self.rows_in - self.quarantined


def open_window(conn: psycopg.Connection, start: date, end: date) -> None:
    """Create the ``_audit_rows`` view over the staged rows with ``as_of`` in the window.

    NaN is read as missing (NULL), the same as the pandas checks do.
    """
    values = sql.SQL(", ").join(
        sql.SQL("NULLIF({c}, 'NaN') AS {c}").format(c=sql.Identifier(c)) for c in VALUE_COLUMNS)
    conn.execute(sql.SQL(
        """CREATE TEMP VIEW _audit_rows AS
           SELECT source_id, as_of, row_number, NULLIF(trim(symbol), '') AS symbol,
                  trade_date, {values}
           FROM market_data_staging WHERE as_of BETWEEN {start} AND {end}""").format(
        values=values, start=sql.Literal(start), end=sql.Literal(end)))
    conn.execute("""CREATE TEMP TABLE _audit_failures (
                        source_id text, as_of date, row_number integer, check_name text,
                        reason text) ON COMMIT DROP""")


def find_failures(conn: psycopg.Connection) -> None:
    """Fill ``_audit_failures`` with every gate check's failing rows (set-based)."""
    lateral = sql.SQL(", ").join(
        sql.SQL("({name}, {expr})").format(name=sql.Literal(name), expr=sql.SQL(expr))
        for name, expr in _ROW_CHECKS)
    conn.execute(sql.SQL(
        """INSERT INTO _audit_failures
           SELECT r.source_id, r.as_of, r.row_number, c.check_name, c.reason
           FROM (SELECT * FROM _audit_rows r WHERE {any_failure}) AS r
           CROSS JOIN LATERAL (VALUES {checks}) AS c(check_name, reason)
           WHERE c.reason IS NOT NULL""").format(checks=lateral,
                                                 any_failure=sql.SQL(_ANY_ROW_FAILURE)))
    # All copies of a (symbol, date) fail: which one is right cannot be told.
    conn.execute(
        """INSERT INTO _audit_failures
           SELECT r.source_id, r.as_of, r.row_number, 'duplicate',
                  'more than one row for this symbol and date'
           FROM _audit_rows r
           JOIN (SELECT symbol, trade_date FROM _audit_rows
                 WHERE symbol IS NOT NULL AND trade_date IS NOT NULL
                 GROUP BY symbol, trade_date HAVING count(*) > 1) d
             USING (symbol, trade_date)""")
    conn.execute(
        """INSERT INTO _audit_failures
           SELECT r.source_id, r.as_of, r.row_number, 'unknown_instrument',
                  format('symbol %s is not a known instrument', r.symbol)
           FROM _audit_rows r
           WHERE r.symbol IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM instruments i WHERE i.symbol = r.symbol)""")
    conn.execute("ANALYZE _audit_failures")


def count(conn: psycopg.Connection) -> AuditCounts:
    """Rows in the window, rows quarantined (distinct), and failures per check."""
    row = conn.execute(
        """SELECT (SELECT count(*) FROM _audit_rows),
                  (SELECT count(*) FROM (SELECT DISTINCT source_id, as_of, row_number
                                         FROM _audit_failures) q)""").fetchone()
    by_check = conn.execute("SELECT check_name, count(*) FROM _audit_failures "
                            "GROUP BY check_name ORDER BY check_name").fetchall()
    return AuditCounts(rows_in=int(row[0]), quarantined=int(row[1]),
                       failures_by_check={name: int(n) for name, n in by_check})


def write_quarantine(conn: psycopg.Connection, start: date, end: date) -> int:
    """Replace the window's market-data quarantine with the failures, each with its raw row.
    Returns the number of quarantine rows written (one per row and failed check)."""
    conn.execute("DELETE FROM quarantine WHERE dataset = %s AND as_of BETWEEN %s AND %s",
                 (DATASET, start, end))
    return conn.execute(
        """INSERT INTO quarantine (source_id, as_of, row_number, check_name, dataset, symbol,
                                   trade_date, reason, raw_row)
           SELECT f.source_id, f.as_of, f.row_number, f.check_name, %s, s.symbol,
                  s.trade_date, f.reason,
                  jsonb_build_object('symbol', s.symbol, 'trade_date', s.trade_date,
                                     'open', s.open, 'high', s.high, 'low', s.low,
                                     'close', s.close, 'adj_close', s.adj_close,
                                     'volume', s.volume)
           FROM _audit_failures f
           JOIN market_data_staging s USING (source_id, as_of, row_number)""",
        (DATASET,)).rowcount


def write_gate_checks(conn: psycopg.Connection, start: date, end: date,
                      sessions: Sequence[date]) -> int:
    """Replace the window's gate rows in ``data_checks``: per date (every session of the
    window and every staged ``as_of``) and check, rows checked and failed."""
    conn.execute("""DELETE FROM data_checks WHERE dataset = %s AND severity = 'error'
                    AND as_of BETWEEN %s AND %s""", (DATASET, start, end))
    return conn.execute(
        """INSERT INTO data_checks (as_of, dataset, check_name, rows_checked, rows_failed,
                                    passed, severity)
           SELECT d.as_of, %s, c.check_name, coalesce(n.rows_checked, 0),
                  coalesce(f.rows_failed, 0), coalesce(f.rows_failed, 0) = 0, 'error'
           FROM (SELECT DISTINCT as_of FROM _audit_rows
                 UNION SELECT unnest(%s::date[])) d
           CROSS JOIN unnest(%s::text[]) AS c(check_name)
           LEFT JOIN (SELECT as_of, count(*) AS rows_checked FROM _audit_rows
                      GROUP BY as_of) n USING (as_of)
           LEFT JOIN (SELECT as_of, check_name, count(*) AS rows_failed FROM _audit_failures
                      GROUP BY as_of, check_name) f USING (as_of, check_name)""",
        (DATASET, list(sessions), list(GATE_CHECKS))).rowcount


def publish(conn: psycopg.Connection) -> int:
    """Publish the window's passing rows into ``market_data`` inside the server.

    A row whose values equal the stored ones is left untouched (its ``loaded_at`` keeps the
    time the value first arrived); a changed row is updated; a new row is inserted. The
    table is locked against other writers (readers are not blocked) so the update-then-
    insert pair cannot race. Rows are inserted in primary-key order, so the key index is
    appended to rather than written at random. Fast path: when no stored bar of the
    window's instruments falls in its date range (a first load), there is nothing to
    compare and the rows go in with one plain ``INSERT … SELECT``. Returns rows inserted or
    changed.
    """
    # Without failures the anti-join is left out (planned over an empty table it becomes a
    # nested loop probed once per row).
    failed = conn.execute("SELECT EXISTS (SELECT 1 FROM _audit_failures)").fetchone()[0]
    conn.execute(sql.SQL(
        """CREATE TEMP VIEW _audit_passing AS
           SELECT i.instrument_id, r.trade_date, r.open, r.high, r.low, r.close,
                  r.adj_close, r.volume, r.source_id
           FROM _audit_rows r JOIN instruments i ON i.symbol = r.symbol {passing}""").format(
        passing=sql.SQL("""WHERE NOT EXISTS (SELECT 1 FROM _audit_failures f
                                             WHERE f.source_id = r.source_id
                                               AND f.as_of = r.as_of
                                               AND f.row_number = r.row_number)""")
        if failed else sql.SQL("")))
    conn.execute("LOCK TABLE market_data IN SHARE ROW EXCLUSIVE MODE")
    insert = """INSERT INTO market_data (instrument_id, trade_date, open, high, low, close,
                                         adj_close, volume, source_id)
                SELECT p.instrument_id, p.trade_date, p.open, p.high, p.low, p.close,
                       p.adj_close, p.volume, p.source_id
                FROM _audit_passing p {where}
                ORDER BY p.instrument_id, p.trade_date"""
    if not _stored_bars_overlap(conn):
        return conn.execute(sql.SQL(insert).format(where=sql.SQL(""))).rowcount
    changed = conn.execute(
        """UPDATE market_data m
           SET open = p.open, high = p.high, low = p.low, close = p.close,
               adj_close = p.adj_close, volume = p.volume, source_id = p.source_id,
               loaded_at = now()
           FROM _audit_passing p
           WHERE m.instrument_id = p.instrument_id AND m.trade_date = p.trade_date
             AND (m.open, m.high, m.low, m.close, m.adj_close, m.volume, m.source_id)
                 IS DISTINCT FROM
                 (p.open, p.high, p.low, p.close, p.adj_close, p.volume, p.source_id)"""
    ).rowcount
    inserted = conn.execute(sql.SQL(insert).format(where=sql.SQL(
        """WHERE NOT EXISTS (SELECT 1 FROM market_data m
                             WHERE m.instrument_id = p.instrument_id
                               AND m.trade_date = p.trade_date)"""))).rowcount
    return changed + inserted


def _stored_bars_overlap(conn: psycopg.Connection) -> bool:
    """Whether ``market_data`` holds any bar of the window's instruments inside the window's
    trade-date range (one primary-key range probe per instrument). Must run under the
    publish lock, so no writer can add such a bar before the insert."""
    return bool(conn.execute(
        """WITH w AS (SELECT min(trade_date) AS lo, max(trade_date) AS hi FROM _audit_rows)
           SELECT EXISTS (
               SELECT 1 FROM instruments i CROSS JOIN w
               WHERE i.symbol IN (SELECT DISTINCT symbol FROM _audit_rows)
                 AND EXISTS (SELECT 1 FROM market_data m
                             WHERE m.instrument_id = i.instrument_id
                               AND m.trade_date BETWEEN w.lo AND w.hi))""").fetchone()[0])
