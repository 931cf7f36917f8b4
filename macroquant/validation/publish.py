"""Publish audited rows into ``market_data`` inside the server (write–audit–publish, step 3).

Reads the ``_audit_rows`` and ``_audit_failures`` objects of :mod:`macroquant.validation.audit`
(same transaction); rows that failed no check are published. Three paths:

- **upsert** (the window already has stored bars of its instruments): an unchanged row is
  left untouched (its ``loaded_at`` keeps the time the value first arrived), a changed row
  is updated, a new row is inserted.
- **append** (no stored bar of the window's instruments falls in its date range, e.g. new
  days or new instruments): one ``INSERT … SELECT`` in primary-key order, so the key index
  is appended to rather than written at random.
- **bulk append** (an append of at least :data:`BULK_MIN_ROWS` rows that is also at least
  :data:`BULK_MIN_FRACTION` of what ``market_data`` holds): ``market_data``'s indexes are
  dropped, the rows go into the heap, and the indexes are built again by sorting — the
  way PostgreSQL's own documentation ("Populating a Database") and ``pg_restore`` load
  large amounts of data. Maintaining the primary key and the ``trade_date`` index row by row
  cost 5.5 s per million rows here, building both afterwards 0.8 s (measured,
  docs/data-quality.md). The statement-level reference trigger is dropped for that one
  statement and created again after it (a merely disabled trigger still copies every new
  row into its transition table): the rows come from a join to ``instruments``, and their
  sources are checked against ``data_sources`` before the insert, with the trigger's own
  error. Into an empty table the insert goes to a new file (``TRUNCATE`` first), which
  ``wal_level = minimal`` (the embedded server's) writes without WAL and syncs at commit.
  Rebuilding the primary key re-checks uniqueness over the whole table. Readers of ``market_data`` wait
  for the bulk publish to commit (it holds an ``ACCESS EXCLUSIVE`` lock); everything is one
  transaction, so a failure leaves the table and its indexes as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

# A bulk append rebuilds market_data's indexes over the whole table, so it pays when the
# new rows are a good part of the table: building costs ~0.4 s per million rows of the
# table and index, maintaining ~5.5 s per million new rows (measured on 2 cores).
BULK_MIN_ROWS = 200_000
BULK_MIN_FRACTION = 0.25
# The statement-level trigger that checks market_data's references (sql/0003).
_REFERENCES_TRIGGER = "market_data_references_insert"

_PASSING = """CREATE OR REPLACE TEMP VIEW _audit_passing AS
   SELECT i.instrument_id, r.trade_date, r.open, r.high, r.low, r.close,
          r.adj_close, r.volume, r.source_id
   FROM _audit_rows r JOIN instruments i ON i.symbol = r.symbol {passing}"""
_NOT_FAILED = """WHERE NOT EXISTS (SELECT 1 FROM _audit_failures f
                                 WHERE f.source_id = r.source_id
                                   AND f.as_of = r.as_of
                                   AND f.row_number = r.row_number)"""
_INSERT = """INSERT INTO market_data (instrument_id, trade_date, open, high, low, close,
                                     adj_close, volume, source_id)
             SELECT p.instrument_id, p.trade_date, p.open, p.high, p.low, p.close,
                    p.adj_close, p.volume, p.source_id
             FROM _audit_passing p {where} {order}"""


def publish(conn: psycopg.Connection, rows_expected: int | None = None,
            deferred_checks: Callable[[], int] | None = None,
            symbols: Sequence[str] | None = None,
            dates: tuple[date, date] | None = None,
            report: dict[str, object] | None = None) -> int:
    """Publish the audited rows that failed no check; return rows inserted or changed.

    ``rows_expected`` (the number of passing rows, when the caller knows it) lets a large
    first load take the bulk path. The table is locked against other writers (readers are
    not blocked, except on the bulk path) so the update-then-insert pair cannot race.

    ``deferred_checks``, if given, runs the gate checks the caller has not run yet — the
    duplicate and unknown-instrument checks, each a full aggregate or anti-join over the
    rows — and returns the new number of passing rows. On the append paths the publish
    itself proves them: the primary key refuses a second row for a (instrument, date), and
    the join to ``instruments`` drops a row without one, which the row count shows. So the
    append is tried first, in a savepoint; only if the key or the count objects are the
    checks run and the append redone. An upsert could update one stored row from two
    staged copies without an error, so there the checks run first.

    ``symbols`` and ``dates``: see :func:`stored_bars_overlap`. ``report``, if given,
    receives ``path`` ('upsert' or 'append') and ``deferred_checks_run`` (bool).
    """
    report = {} if report is None else report
    report.update(path="append", deferred_checks_run=False)
    _passing_view(conn)
    conn.execute("LOCK TABLE market_data IN SHARE ROW EXCLUSIVE MODE")
    if stored_bars_overlap(conn, symbols, dates):
        report["path"] = "upsert"
        if deferred_checks is not None:
            report["deferred_checks_run"] = True
            deferred_checks()
            _passing_view(conn)
        return _upsert(conn)
    if deferred_checks is None:
        return _append(conn, rows_expected)
    try:
        with conn.transaction():
            inserted = _append(conn, rows_expected)
            if rows_expected is not None and inserted != rows_expected:
                raise _RowsMissing(inserted, rows_expected)
            return inserted
    except (psycopg.errors.UniqueViolation, _RowsMissing) as exc:
        log.info("publish: %s; running the deferred gate checks", exc)
    report["deferred_checks_run"] = True
    rows_expected = deferred_checks()
    _passing_view(conn)
    return _append(conn, rows_expected)


class _RowsMissing(Exception):
    def __init__(self, inserted: int, expected: int) -> None:
        super().__init__(f"{inserted} rows published of {expected} expected")


def _passing_view(conn: psycopg.Connection) -> None:
    # Without failures the anti-join is left out (planned over an empty table it becomes a
    # nested loop probed once per row).
    failed = conn.execute("SELECT EXISTS (SELECT 1 FROM _audit_failures)").fetchone()[0]
    conn.execute(sql.SQL(_PASSING).format(
        passing=sql.SQL(_NOT_FAILED) if failed else sql.SQL("")))


def _append(conn: psycopg.Connection, rows_expected: int | None) -> int:
    if rows_expected is not None and _bulk_pays(conn, rows_expected):
        return _bulk_append(conn)
    return conn.execute(sql.SQL(_INSERT).format(
        where=sql.SQL(""), order=sql.SQL("ORDER BY p.instrument_id, p.trade_date"))).rowcount


def _upsert(conn: psycopg.Connection) -> int:
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
    inserted = conn.execute(sql.SQL(_INSERT).format(
        where=sql.SQL("""WHERE NOT EXISTS (SELECT 1 FROM market_data m
                                           WHERE m.instrument_id = p.instrument_id
                                             AND m.trade_date = p.trade_date)"""),
        order=sql.SQL("ORDER BY p.instrument_id, p.trade_date"))).rowcount
    return changed + inserted


def stored_bars_overlap(conn: psycopg.Connection, symbols: Sequence[str] | None = None,
                        dates: tuple[date, date] | None = None) -> bool:
    """Whether ``market_data`` holds any bar of the staged rows' instruments inside their
    trade-date range (one primary-key range probe per instrument). ``symbols`` and
    ``dates`` (first, last), when the caller knows them, save a scan of the staged rows.
    The publish runs it under its lock, so no writer can add such a bar before the
    insert."""
    if symbols is None or dates is None:
        return bool(conn.execute(
            """WITH w AS (SELECT min(trade_date) AS lo, max(trade_date) AS hi
                          FROM _audit_rows)
               SELECT EXISTS (
                   SELECT 1 FROM instruments i CROSS JOIN w
                   WHERE i.symbol IN (SELECT DISTINCT symbol FROM _audit_rows)
                     AND EXISTS (SELECT 1 FROM market_data m
                                 WHERE m.instrument_id = i.instrument_id
                                   AND m.trade_date BETWEEN w.lo AND w.hi))""").fetchone()[0])
    return bool(conn.execute(
        """SELECT EXISTS (
               SELECT 1 FROM instruments i
               WHERE i.symbol = ANY(%s)
                 AND EXISTS (SELECT 1 FROM market_data m
                             WHERE m.instrument_id = i.instrument_id
                               AND m.trade_date BETWEEN %s AND %s))""",
        (list(symbols), dates[0], dates[1])).fetchone()[0])


def bars_of_other_sources(conn: psycopg.Connection) -> dict[str, int]:
    """Per source: the stored bars that audited rows of another source would change (same
    instrument and date, different values). A loader reports them: its publish replaces
    them (the last writer wins, and ``market_data.source_id`` says who)."""
    rows = conn.execute(
        """SELECT m.source_id, count(*) FROM _audit_rows r
           JOIN instruments i ON i.symbol = r.symbol
           JOIN market_data m ON m.instrument_id = i.instrument_id
                             AND m.trade_date = r.trade_date
           WHERE m.source_id <> r.source_id
             AND (m.open, m.high, m.low, m.close, m.adj_close, m.volume)
                 IS DISTINCT FROM (r.open, r.high, r.low, r.close, r.adj_close, r.volume)
             AND NOT EXISTS (SELECT 1 FROM _audit_failures f
                             WHERE f.source_id = r.source_id AND f.as_of = r.as_of
                               AND f.row_number = r.row_number)
           GROUP BY m.source_id ORDER BY m.source_id""").fetchall()
    return {source: int(n) for source, n in rows}


def _bulk_pays(conn: psycopg.Connection, rows: int) -> bool:
    """Whether ``rows`` new rows are enough to rebuild market_data's indexes (the planner's
    row estimate of the table is close enough for this)."""
    stored = conn.execute("SELECT greatest(reltuples, 0) FROM pg_class "
                          "WHERE oid = 'market_data'::regclass").fetchone()[0]
    return rows >= BULK_MIN_ROWS and rows >= BULK_MIN_FRACTION * float(stored)


def _bulk_append(conn: psycopg.Connection) -> int:
    """Drop market_data's indexes, insert into the heap, build the indexes again."""
    unknown = conn.execute(
        """SELECT source_id FROM (SELECT DISTINCT source_id FROM _audit_passing) p
           WHERE NOT EXISTS (SELECT 1 FROM data_sources s WHERE s.source_id = p.source_id)
           LIMIT 1""").fetchone()
    if unknown:
        raise psycopg.errors.ForeignKeyViolation(
            f"market_data rows reference an unknown data source '{unknown[0]}'")
    conn.execute("LOCK TABLE market_data IN ACCESS EXCLUSIVE MODE")
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM market_data)").fetchone()[0]:
        # An empty table (a first load) is given a new file. Under wal_level 'minimal' (the
        # embedded server's) a file new in this transaction is written without WAL and
        # synced at commit (5 M rows: publish 7.7 -> 5.4 s). Under 'replica' it changes
        # nothing.
        conn.execute("TRUNCATE market_data")
    constraints = conn.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = 'market_data'::regclass AND contype IN ('p', 'u')""").fetchall()
    indexes = conn.execute(
        """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = 'market_data'::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"""
    ).fetchall()
    for name, _ in constraints:
        conn.execute(sql.SQL("ALTER TABLE market_data DROP CONSTRAINT {}").format(
            sql.Identifier(name)))
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    # Dropped, not disabled: a disabled trigger with a transition table still makes the
    # insert copy every new row into that table (0.6 s per million rows, measured).
    trigger = conn.execute(
        """SELECT pg_get_triggerdef(oid) FROM pg_trigger
           WHERE tgrelid = 'market_data'::regclass AND tgname = %s""",
        (_REFERENCES_TRIGGER,)).fetchone()
    if trigger:
        conn.execute(sql.SQL("DROP TRIGGER {} ON market_data").format(
            sql.Identifier(_REFERENCES_TRIGGER)))
    inserted = conn.execute(sql.SQL(_INSERT).format(where=sql.SQL(""),
                                                    order=sql.SQL(""))).rowcount
    if trigger:
        conn.execute(sql.SQL(trigger[0]))
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for name, definition in constraints:
        conn.execute(sql.SQL("ALTER TABLE market_data ADD CONSTRAINT {} {}").format(
            sql.Identifier(name), sql.SQL(definition)))
    for _, definition in indexes:
        conn.execute(sql.SQL(definition))
    conn.execute("ANALYZE market_data")
    log.info("bulk publish: %d rows appended to market_data, indexes rebuilt", inserted)
    return inserted
