"""Warning checks that need each instrument's history: spikes, gaps, stale instruments.

They run in PostgreSQL after the publish, over ``market_data`` (the window's bars plus
enough history before it), with window functions per instrument. A warning does not stop
the run: the bar is published, the flag is stored in ``data_quality_flags`` and counted in
``data_checks`` with ``severity = 'warning'``.

- **spike**: ``|Δ ln p|`` of a bar is over ``spike_k`` × the mean ``|Δ ln p|`` of the
  instrument's previous ``spike_window`` moves (at least ``spike_min_moves`` of them),
  where ``p`` is the adjusted close where the source gives one (so a split is not a spike),
  else the close.
- **gap**: more than ``gap_sessions`` XNYS sessions are missing between a bar and the
  instrument's previous bar.
- **stale**: an instrument's last bar up to the window's end is more than
  ``stale_sessions`` sessions before the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import psycopg

from macroquant.calendars import sessions as calendar_sessions
from macroquant.validation.config import QualityConfig

DATASET = "market_data"
WARNING_CHECKS: tuple[str, ...] = ("spike", "gap", "stale")


def _history_start(start: date, quality: QualityConfig) -> date:
    """A calendar date early enough to hold ``spike_window`` moves before ``start`` even
    with some missing sessions (three times the window, in calendar days × 1.5)."""
    return start - timedelta(days=int(quality.spike_window * 3 * 1.5) + 10)


def _calendar_table(conn: psycopg.Connection, first: date, end: date) -> None:
    """``_day_ord(day, session, ord)``: every calendar day from ``first`` to ``end`` mapped to
    the first XNYS session on or after it and that session's ordinal."""
    session_days = np.array(calendar_sessions(first, end + timedelta(days=10)),
                            dtype="datetime64[D]")
    days = np.arange(np.datetime64(first, "D"), np.datetime64(end, "D") + 1)
    position = np.searchsorted(session_days, days, side="left")
    conn.execute("CREATE TEMP TABLE _day_ord (day date, session date, ord integer) "
                 "ON COMMIT DROP")
    conn.execute("""INSERT INTO _day_ord
                    SELECT * FROM unnest(%s::date[], %s::date[], %s::integer[])""",
                 (days.tolist(), session_days[position].tolist(), (position + 1).tolist()))
    conn.execute("CREATE UNIQUE INDEX ON _day_ord (day)")
    conn.execute("ANALYZE _day_ord")


def run(conn: psycopg.Connection, start: date, end: date, window_sessions: Sequence[date],
        quality: QualityConfig) -> dict[str, int]:
    """Replace the window's flags and warning rows in ``data_checks``; return flags per
    check."""
    first = _history_start(start, quality)
    _calendar_table(conn, first, end)
    conn.execute("DELETE FROM data_quality_flags WHERE dataset = %s AND as_of BETWEEN %s AND %s",
                 (DATASET, start, end))
    conn.execute("""DELETE FROM data_checks WHERE dataset = %s AND severity = 'warning'
                    AND as_of BETWEEN %s AND %s""", (DATASET, start, end))
    params = {"first": first, "start": start, "end": end, "k": quality.spike_k,
              "window": quality.spike_window, "min_moves": quality.spike_min_moves,
              "gap": quality.gap_sessions, "stale": quality.stale_sessions,
              "dataset": DATASET}
    conn.execute(
        """CREATE TEMP TABLE _history_scored ON COMMIT DROP AS
           WITH bars AS (
               SELECT m.instrument_id, m.trade_date, d.session, d.ord,
                      ln(coalesce(m.adj_close, m.close)) AS lp
               FROM market_data m JOIN _day_ord d ON d.day = m.trade_date
               WHERE m.trade_date BETWEEN %(first)s AND %(end)s
                 AND coalesce(m.adj_close, m.close) > 0),
           moves AS (
               SELECT *, abs(lp - lag(lp) OVER w) AS move, ord - lag(ord) OVER w - 1 AS missing
               FROM bars WINDOW w AS (PARTITION BY instrument_id ORDER BY trade_date))
           SELECT instrument_id, trade_date, session, move, missing,
                  avg(move) OVER r AS mean_move, count(move) OVER r AS n_moves
           FROM moves
           WINDOW r AS (PARTITION BY instrument_id ORDER BY trade_date
                        ROWS BETWEEN %(window)s PRECEDING AND 1 PRECEDING)""", params)
    conn.execute(
        """INSERT INTO data_quality_flags (as_of, dataset, check_name, symbol, trade_date,
                                           observed, threshold, reason)
           SELECT h.session, %(dataset)s, 'spike', i.symbol, h.trade_date,
                  h.move / h.mean_move, %(k)s,
                  format('log move %%s is %%s x the mean absolute move %%s of the previous '
                         '%%s moves (limit %%s x)', round(h.move::numeric, 6),
                         round((h.move / h.mean_move)::numeric, 2),
                         round(h.mean_move::numeric, 6), h.n_moves, %(k)s)
           FROM _history_scored h JOIN instruments i USING (instrument_id)
           WHERE h.session BETWEEN %(start)s AND %(end)s AND h.n_moves >= %(min_moves)s
             AND h.mean_move > 0 AND h.move > %(k)s * h.mean_move""", params)
    conn.execute(
        """INSERT INTO data_quality_flags (as_of, dataset, check_name, symbol, trade_date,
                                           observed, threshold, reason)
           SELECT h.session, %(dataset)s, 'gap', i.symbol, h.trade_date, h.missing, %(gap)s,
                  format('%%s sessions missing before this bar (limit %%s)', h.missing,
                         %(gap)s)
           FROM _history_scored h JOIN instruments i USING (instrument_id)
           WHERE h.session BETWEEN %(start)s AND %(end)s AND h.missing > %(gap)s""", params)
    conn.execute(
        """INSERT INTO data_quality_flags (as_of, dataset, check_name, symbol, trade_date,
                                           observed, threshold, reason)
           SELECT %(end)s, %(dataset)s, 'stale', i.symbol, last.trade_date,
                  e.ord - d.ord, %(stale)s,
                  format('last bar %%s is %%s sessions before %%s (limit %%s)',
                         last.trade_date, e.ord - d.ord, %(end)s::date, %(stale)s)
           FROM instruments i
           CROSS JOIN LATERAL (SELECT max(trade_date) AS trade_date FROM market_data m
                               WHERE m.instrument_id = i.instrument_id
                                 AND m.trade_date <= %(end)s) AS last
           JOIN _day_ord d ON d.day = last.trade_date
           JOIN _day_ord e ON e.day = %(end)s
           WHERE i.active AND e.ord - d.ord > %(stale)s""", params)
    conn.execute(
        """INSERT INTO data_checks (as_of, dataset, check_name, rows_checked, rows_failed,
                                    passed, severity)
           SELECT s.as_of, %(dataset)s, c.check_name,
                  CASE WHEN c.check_name = 'stale'
                       THEN (SELECT count(*) FROM instruments WHERE active)
                       ELSE coalesce(n.bars, 0) END,
                  coalesce(f.flagged, 0), true, 'warning'
           FROM unnest(%(sessions)s::date[]) AS s(as_of)
           CROSS JOIN unnest(%(checks)s::text[]) AS c(check_name)
           LEFT JOIN (SELECT session AS as_of, count(*) AS bars FROM _history_scored
                      WHERE session BETWEEN %(start)s AND %(end)s GROUP BY session) n
             USING (as_of)
           LEFT JOIN (SELECT as_of, check_name, count(*) AS flagged FROM data_quality_flags
                      WHERE dataset = %(dataset)s AND as_of BETWEEN %(start)s AND %(end)s
                      GROUP BY as_of, check_name) f USING (as_of, check_name)
           WHERE c.check_name <> 'stale' OR s.as_of = %(end)s""",
        {**params, "sessions": list(window_sessions), "checks": list(WARNING_CHECKS)})
    rows = conn.execute("""SELECT check_name, count(*) FROM data_quality_flags
                           WHERE dataset = %s AND as_of BETWEEN %s AND %s
                           GROUP BY check_name""", (DATASET, start, end)).fetchall()
    found = {name: int(n) for name, n in rows}
    return {name: found.get(name, 0) for name in WARNING_CHECKS}
