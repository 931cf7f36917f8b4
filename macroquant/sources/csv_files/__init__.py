"""CSV file source: bulk-load daily bars from a file (``macroquant ingest csv FILE``).

Write–audit–publish, in one transaction:

1. **write**: the file (``symbol,date,open,high,low,close,volume`` plus optional
   ``adj_close``) is streamed unchanged into the landing (staging) tables by ``COPY``, on two
   connections at once (``load.copy_file``; unreadable lines are separated and kept in
   ``quarantine``); unknown symbols are created in ``instruments``;
2. **audit**: the validate stage's gate checks (``macroquant.validation.audit``) run over
   the landing rows in SQL; failing rows go to ``quarantine`` with their reasons
   (``source_id = 'csv'``, ``row_number`` = line), and the per-date counts to
   ``data_checks`` under dataset ``csv_file``;
3. **publish**: the passing rows go into ``market_data`` (``macroquant.validation.publish``;
   a large first load rebuilds the indexes instead of maintaining them row by row), then
   the warning checks (spikes, gaps, stale) run over the window.

Rows in = published + quarantined, recorded in ``pipeline_runs`` (stage ``ingest_csv``).
No value is parsed or formatted in Python. Loading the same file again changes nothing:
unchanged rows are left untouched and the file's open quarantine rows are replaced
(``quarantine.origin`` is the file's absolute path, ``line`` its line; another file's rows
are kept, and a row accepted or dropped keeps that decision).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from macroquant.calendars import session_on_or_after, sessions
from macroquant.config.settings import Settings
from macroquant.db.bulk import upsert_rows
from macroquant.db.connection import database_url, transaction
from macroquant.pipeline.ingest import assign_as_of
from macroquant.pipeline.runner import audit_time, record_run
from macroquant.sources.csv_files import parse
from macroquant.sources.csv_files.client import CsvFormatError, read_header
from macroquant.sources.csv_files.config import (
    DATA_SOURCE,
    MALFORMED_DATASET,
    SOURCE_ID,
    CsvLoadOptions,
)
from macroquant.sources.csv_files.load import (
    MalformedRow,
    copy_file,
    empty_landing_tables,
    landing_rows,
    truncate_landing_tables,
)
from macroquant.sources.csv_files.new_bars import NewBarsReader
from macroquant.validation import audit, history_checks, publish
from macroquant.validation.config import load_quality_config

__all__ = ["STEPS", "SOURCE_ID", "CsvFormatError", "fetch_bars", "ingest_csv", "ingest_csv_command",
           "register"]


def register(conn: psycopg.Connection) -> None:
    """Upsert the ``csv`` data_sources row (disabled: files are loaded on demand)."""
    upsert_rows(conn, "data_sources", pd.DataFrame([DATA_SOURCE]), ["source_id"],
                ["kind", "adapter", "description", "priority", "enabled"])


def fetch_bars(start: Any, end: Any) -> pd.DataFrame:
    """Template hook. A file source has nothing to fetch on a schedule (its data_sources
    row is disabled), so this returns no bars; use :func:`ingest_csv`."""
    return pd.DataFrame(columns=["symbol", "trade_date", "open", "high", "low", "close",
                                 "adj_close", "volume"])


def create_instruments(conn: psycopg.Connection, symbols: np.ndarray,
                       options: CsvLoadOptions) -> int:
    """Create the symbols not yet in ``instruments``; existing ones are left as they are.
    Returns the number created."""
    cursor = conn.execute(
        """INSERT INTO instruments (symbol, name, asset_class, currency, lot_size, source_id,
                                    vendor_symbol)
           SELECT s, s, %s, %s, %s, %s, s FROM unnest(%s::text[]) AS s
           ON CONFLICT (symbol) DO NOTHING""",
        (options.asset_class, options.currency, options.lot_size, SOURCE_ID,
         [str(s) for s in symbols]))
    return cursor.rowcount


def quarantine_malformed(conn: psycopg.Connection, rows: list[MalformedRow], start: date,
                         end: date, origin: str) -> int:
    """Keep the malformed rows of the file ``origin`` in ``quarantine`` (dataset
    ``csv_file``, check ``malformed_row``, ``row_number`` and ``line`` = line, ``raw_row``
    = the line's text). Other files' rows are kept; a line found again keeps its
    ``quarantine_id`` and, if its text is unchanged, its decision."""
    as_of = (assign_as_of(pd.Series(pd.to_datetime([r.trade_date for r in rows])), start, end)
             if rows else pd.Series([], dtype="datetime64[ns]"))
    keys = [(a.date(), r.line) for a, r in zip(as_of, rows, strict=True)]
    conn.execute(
        """DELETE FROM quarantine WHERE source_id = %s AND dataset = %s AND origin = %s
           AND status = 'open' AND as_of BETWEEN %s AND %s
           AND (as_of, row_number) NOT IN (SELECT * FROM unnest(%s::date[], %s::int[]))""",
        (SOURCE_ID, MALFORMED_DATASET, origin, start, end, [k[0] for k in keys],
         [k[1] for k in keys]))
    with conn.cursor() as cur:
        cur.executemany(sql.SQL(
            """INSERT INTO quarantine (source_id, origin, line, as_of, row_number, check_name,
                                       dataset, trade_date, reason, raw_row)
               VALUES (%s, %s, %s, %s, %s, 'malformed_row', %s, %s, %s, %s)
               ON CONFLICT (source_id, origin, as_of, row_number, check_name) DO UPDATE SET
                   trade_date = EXCLUDED.trade_date, reason = EXCLUDED.reason,
                   raw_row = EXCLUDED.raw_row, {keep}""").format(
                keep=audit.KEEP_DECISION_IF_UNCHANGED),
            [(SOURCE_ID, origin, r.line, day, r.line, MALFORMED_DATASET, r.trade_date,
              r.reason, Jsonb({"line": r.line, "text": r.text}))
             for (day, _), r in zip(keys, rows, strict=True)])
    return len(rows)


def _run_id(path: Path) -> str:
    return f"ingest_csv__{path.name}"


def _merge_symbols(rows: list[tuple[str | None, date | None, date | None, int]]
                   ) -> list[tuple[str, date | None, date | None, int]]:
    """Per-symbol (first date, last date, rows) with symbols trimmed ('' for a missing one)
    and the groups that trim to the same symbol merged."""
    merged: dict[str, tuple[date | None, date | None, int]] = {}
    for symbol, lo, hi, n in rows:
        key = (symbol or "").strip()
        if key in merged:
            old_lo, old_hi, old_n = merged[key]
            lo = min((d for d in (lo, old_lo) if d), default=None)
            hi = max((d for d in (hi, old_hi) if d), default=None)
            n += old_n
        merged[key] = (lo, hi, int(n))
    return [(key, lo, hi, n) for key, (lo, hi, n) in merged.items()]


def _rows_per_as_of(per_date: list[tuple[date | None, int]], start: date,
                    end: date) -> dict[date, int]:
    """Rows per ``as_of`` from rows per trade date (the rule of :func:`parse.staged_rows`:
    the first session on or after the date; a row without a date belongs to ``end``)."""
    dated = [(d, n) for d, n in per_date if d is not None]
    counts: dict[date, int] = {}
    if dated:
        as_of = assign_as_of(pd.Series(pd.to_datetime([d for d, _ in dated])), start, end)
        for day, (_, n) in zip(as_of, dated, strict=True):
            counts[day.date()] = counts.get(day.date(), 0) + n
    undated = sum(n for d, n in per_date if d is None)
    if undated:
        counts[end] = counts.get(end, 0) + undated
    return counts


# One CSV load at a time: the landing tables are shared.
LOAD_LOCK = "macroquant.ingest_csv"
# The new bars are read for the warning checks during the publish (new_bars.py) unless more
# lines than this failed the gate (their numbers are sent to the reading connection).
MAX_FAILED_LINES_READ_AHEAD = 100_000
# The parts of a load, in order, as reported to ``on_step`` and in ``seconds``.
STEPS: tuple[str, ...] = ("stage", "audit", "publish", "warnings")


def ingest_csv(settings: Settings, path: str | Path, *, asset_class: str = "single_stock",
               currency: str = "USD",
               on_step: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Load a bars CSV file: COPY into the landing tables, audit, quarantine, publish.

    Returns counts (``rows_in`` = every data line of the file, ``published``,
    ``quarantined`` = rows that failed a check + ``malformed`` rows,
    ``instruments_created``, ``quarantined_by_check``, ``malformed_lines``,
    ``market_data_changed``, ``flagged`` warnings, ``replaced_from_other_sources``: stored
    bars of other sources this file changed, per source), the window (``start``, ``end``),
    ``validate_failed`` and ``seconds`` per part (stage, audit, publish, warnings). Raises
    :class:`CsvFormatError` (nothing written) if the header is wrong, or if no row of the
    file can be read. ``on_step(part, seconds)`` is called as each part of :data:`STEPS`
    ends (progress for long loads).
    """
    path = Path(path)
    try:
        options = CsvLoadOptions(asset_class=asset_class, currency=currency)
    except ValidationError as exc:
        raise CsvFormatError(f"{path}: invalid option: {exc.errors()[0]['msg']}") from exc
    names = read_header(path)
    quality = load_quality_config()
    seconds: dict[str, float] = {}
    started = audit_time()
    tick = time.perf_counter()
    url = database_url(settings)
    try:
        with transaction(url) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (LOAD_LOCK,))
            conn.execute("SET LOCAL work_mem = '256MB'")
            # Building the exchange calendar (~0.5 s, once per process) overlaps the COPY.
            calendar = threading.Thread(target=session_on_or_after, args=(date(2000, 1, 3),))
            calendar.start()
            copied = copy_file(conn, url, path, names)
            landing_committed, malformed = copied is None, copied or []
            calendar.join()
            # Two aggregates PostgreSQL runs in parallel: rows per symbol as written (trimmed
            # and merged here) with their dates, and rows per date.
            raw_symbols = conn.execute(sql.SQL(
                "SELECT symbol, min(date), max(date), count(*) FROM ({}) r GROUP BY symbol"
            ).format(landing_rows())).fetchall()
            symbols_trimmed = all(s and s == s.strip() for s, *_ in raw_symbols)
            per_symbol = _merge_symbols(raw_symbols)
            per_date = [(day, int(n)) for day, n in conn.execute(sql.SQL(
                "SELECT date, count(*) FROM ({}) r GROUP BY date").format(landing_rows()))]
            staged_rows = sum(int(n) for *_, n in per_symbol)
            dates = [d for (_, lo, hi, _) in per_symbol for d in (lo, hi) if d]
            dates += [r.trade_date for r in malformed if r.trade_date]
            if not dates:
                detail = f"; first problem: {malformed[0].reason}" if malformed else ""
                raise CsvFormatError(f"{path}: no row with a readable date{detail}")
            first, last = min(dates), max(dates)
            start, end = session_on_or_after(first), session_on_or_after(last)
            seconds["stage"] = time.perf_counter() - tick
            if on_step is not None:
                on_step("stage", seconds["stage"])

            tick = time.perf_counter()
            register(conn)
            symbols = sorted({s for (s, *_) in per_symbol if s})
            created = create_instruments(conn, np.array(symbols, dtype=object), options)
            window_sessions = sessions(start, end)
            audit.open_window(conn, start, end,
                              staged=parse.staged_rows(end, symbols_trimmed, window_sessions),
                              symbols_trimmed=symbols_trimmed)
            # The row-local checks now; the duplicate and unknown-instrument checks only if the
            # publish finds a reason to run them (publish.publish, deferred_checks).
            audit.find_failures(conn, audit.ROW_CHECKS)
            counts = audit.count(conn, staged_rows)
            seconds["audit"] = time.perf_counter() - tick
            if on_step is not None:
                on_step("audit", seconds["audit"])

            tick = time.perf_counter()

            def deferred_checks() -> int:
                audit.find_failures(conn, ("duplicate", "unknown_instrument"))
                return audit.count(conn, staged_rows).published

            dates = (first, last)
            # Locked now (publish locks it again), so the overlap test and the stored bars
            # read below stay true until the publish.
            conn.execute("LOCK TABLE market_data IN SHARE ROW EXCLUSIVE MODE")
            overlap = publish.stored_bars_overlap(conn, symbols, dates)
            replaced = publish.bars_of_other_sources(conn) if overlap else {}
            new_bars = None
            if (landing_committed and symbols_trimmed and not overlap
                    and counts.quarantined <= MAX_FAILED_LINES_READ_AHEAD):
                failed = [n for (n,) in conn.execute(
                    "SELECT DISTINCT row_number FROM _audit_failures")]
                new_bars = NewBarsReader(
                    url, start, end, quality, failed,
                    history_checks.read_stored_bars(conn, start, end, quality))
            report: dict[str, object] = {}
            changed = publish.publish(conn, counts.published, deferred_checks, symbols, dates,
                                      report)
            counts = audit.count(conn, staged_rows)
            origin = str(path.resolve())
            audit.write_quarantine(conn, start, end, source_id=SOURCE_ID, origin=origin)
            audit.write_gate_checks(conn, start, end, [], dataset=MALFORMED_DATASET,
                                    rows_checked=_rows_per_as_of(per_date, start, end))
            quarantine_malformed(conn, malformed, start, end, origin)
            seconds["publish"] = time.perf_counter() - tick
            if on_step is not None:
                on_step("publish", seconds["publish"])

            tick = time.perf_counter()
            scored = new_bars.result() if new_bars is not None else None
            if report["path"] != "append" or report["deferred_checks_run"]:
                scored = None  # the published rows are not the ones read ahead
            flags = history_checks.run(conn, start, end, window_sessions, quality, scored)
            by_check = dict(counts.failures_by_check)
            if malformed:
                by_check["malformed_row"] = len(malformed)
            rows_in = staged_rows + len(malformed)
            quarantined = counts.quarantined + len(malformed)
            result_rows = {"rows_in": rows_in, "published": counts.published,
                           "quarantined": quarantined, "malformed": len(malformed),
                           "market_data_changed": changed, "flagged": sum(flags.values())}
            record_run(conn, _run_id(path), "ingest_csv", start, end, "success",
                       started, audit_time(), result_rows)
            truncate_landing_tables(conn)
            seconds["warnings"] = time.perf_counter() - tick
            if on_step is not None:
                on_step("warnings", seconds["warnings"])
    except BaseException:
        empty_landing_tables(url, LOAD_LOCK)
        raise

    return {
        "file": str(path), "start": start, "end": end, "rows_in": rows_in,
        "published": counts.published, "quarantined": quarantined,
        "quarantined_by_check": dict(sorted(by_check.items())),
        "malformed_lines": [r.reason for r in malformed],
        "instruments_created": created, "market_data_changed": changed,
        "replaced_from_other_sources": replaced,
        "flagged": flags, "validate_failed": quarantined > 0, "seconds": seconds,
    }


def ingest_csv_command(settings: Settings, path: str | Path, asset_class: str = "single_stock",
                       currency: str = "USD",
                       on_step: Callable[[str, float], None] | None = None) -> tuple[int, str]:
    """``macroquant ingest csv FILE``: (exit code, message). 0: every row published;
    1: rows were quarantined, malformed rows included (the good rows are published); 2: the
    header is wrong or no row can be read (nothing written)."""
    try:
        result = ingest_csv(settings, path, asset_class=asset_class, currency=currency,
                            on_step=on_step)
    except CsvFormatError as exc:
        return 2, f"error: {exc}; nothing was written"
    message = (f"{result['file']}: {result['rows_in']} rows in, {result['published']} "
               f"published, {result['quarantined']} quarantined; "
               f"{result['instruments_created']} instruments created; "
               f"as_of {result['start']} to {result['end']}")
    if result["malformed_lines"]:
        lines = result["malformed_lines"]
        message = (f"error: {result['file']}: {len(lines)} malformed row(s) kept in "
                   f"quarantine (dataset '{MALFORMED_DATASET}'): {'; '.join(lines[:5])}"
                   f"{' …' if len(lines) > 5 else ''}\n") + message
    if result["replaced_from_other_sources"]:
        replaced = ", ".join(f"{n} from '{source}'"
                             for source, n in result["replaced_from_other_sources"].items())
        message += (f"\nwarning: this file replaced stored bars of other sources ({replaced}); "
                    "market_data.source_id now says 'csv' for them")
    if result["quarantined"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in result["quarantined_by_check"].items())
        message += (f"\nquarantined by check: {reasons} (each row with its line: "
                    f"macroquant quarantine list --symbol SYMBOL; accept or drop them there)")
    return (1 if result["validate_failed"] else 0), message
