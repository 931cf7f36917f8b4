"""Warning checks that need each instrument's history: spikes, gaps, stale instruments.

They run after the publish, over ``market_data`` (the window's bars plus enough history
before it). A warning does not stop the run: the bar is published, the flag is stored in
``data_quality_flags`` and counted in ``data_checks`` with ``severity = 'warning'``.

- **spike**: ``|Δ ln p|`` of a bar is over ``spike_k`` × the mean ``|Δ ln p|`` of the
  instrument's previous ``spike_window`` moves (at least ``spike_min_moves`` of them),
  where ``p`` is the adjusted close where the source gives one (so a split is not a spike),
  else the close. Only bars with a positive ``p`` are read.
- **gap**: more than ``gap_sessions`` XNYS sessions are missing between a bar and the
  instrument's previous bar.
- **stale**: an instrument's last bar up to the window's end is more than
  ``stale_sessions`` sessions before the end.

A bar belongs to the first XNYS session on or after its date (a Saturday bar to Monday's
session); flags are raised for bars whose session is in the window. The history is read in
one query as one packed ``bytea`` per instrument (no per-row transfer) and scored with
numpy; only the flagged bars go back to PostgreSQL, which formats their reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import psycopg
from psycopg import sql

from macroquant.calendars import sessions as calendar_sessions
from macroquant.validation.config import QualityConfig

DATASET = "market_data"
WARNING_CHECKS: tuple[str, ...] = ("spike", "gap", "stale")

# PostgreSQL's binary date is a big-endian int4 of days since 2000-01-01.
_EPOCH = np.datetime64("2000-01-01", "D")
_RECORD = np.dtype([("day", ">i4"), ("log_price", ">f8")])
# Per symbol, its bars as _RECORDs (any order), as the queries below return them.
PackedBars = list[tuple[str, bytes]]

# The aggregate that packs a group's bars (columns ``trade_date``, ``price``) as _RECORDs,
# in input order. Every query that reads bars for these checks uses it (this module's and
# csv_files.new_bars'), so the layout is written once, next to _RECORD.
PACK_BARS = sql.SQL("string_agg(date_send(trade_date) || float8send(ln(price)), ''::bytea)")
# One row per instrument: its bars (day, ln p) packed in storage order.
_BARS = sql.SQL("""SELECT instrument_id, {pack}
           FROM (SELECT instrument_id, trade_date, coalesce(adj_close, close) AS price
                 FROM market_data WHERE trade_date BETWEEN %(first)s AND %(end)s) b
           WHERE price > 0
           GROUP BY instrument_id""").format(pack=PACK_BARS)

_INSERT_BAR_FLAGS = """
    WITH h AS (
        SELECT *
        FROM unnest(%(symbols)s::text[], %(trade_dates)s::date[], %(sessions)s::date[],
                    %(moves)s::float8[], %(missing)s::integer[], %(n_moves)s::integer[],
                    %(means)s::float8[])
             AS h(symbol, trade_date, session, move, missing, n_moves, mean_move))
    INSERT INTO data_quality_flags (as_of, dataset, check_name, symbol, trade_date,
                                    observed, threshold, reason)
    SELECT session, %(dataset)s, 'spike', symbol, trade_date, move / mean_move, %(k)s,
           format('log move %%s is %%s x the mean absolute move %%s of the previous '
                  '%%s moves (limit %%s x)', round(move::numeric, 6),
                  round((move / mean_move)::numeric, 2), round(mean_move::numeric, 6),
                  n_moves, %(k)s)
    FROM h WHERE n_moves >= %(min_moves)s AND mean_move > 0 AND move > %(k)s * mean_move
    UNION ALL
    SELECT session, %(dataset)s, 'gap', symbol, trade_date, missing, %(gap)s,
           format('%%s sessions missing before this bar (limit %%s)', missing, %(gap)s)
    FROM h WHERE missing > %(gap)s"""


@dataclass(frozen=True)
class _Scored:
    """Per bar, sorted by (instrument, trade date): the log move from the previous bar
    (NaN on an instrument's first bar), the sessions missing since it (-1 on the first
    bar), the moves in the spike window before it and their mean (NaN when none)."""

    move: np.ndarray
    missing: np.ndarray
    n_moves: np.ndarray
    mean_move: np.ndarray


def history_start(start: date, quality: QualityConfig) -> date:
    """A calendar date early enough to hold ``spike_window`` moves before ``start`` even
    with some missing sessions (three times the window, in calendar days × 1.5)."""
    return start - timedelta(days=int(quality.spike_window * 3 * 1.5) + 10)


def _days(values: Sequence[date] | date) -> np.ndarray:
    """Dates as int64 days since 2000-01-01."""
    return (np.asarray(values, dtype="datetime64[D]") - _EPOCH).astype(np.int64)


def _dates(days: np.ndarray) -> list[date]:
    """The inverse of ``_days``."""
    return (_EPOCH + days.astype("timedelta64[D]")).tolist()


def read_stored_bars(conn: psycopg.Connection, start: date, end: date,
                     quality: QualityConfig) -> PackedBars:
    """The bars of ``market_data`` the checks of window ``start..end`` read (from
    :func:`history_start` to ``end``, positive prices), packed per symbol."""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(_BARS, {"first": history_start(start, quality),
                                   "end": end}).fetchall()
    if not rows:
        return []
    symbols = dict(conn.execute("SELECT instrument_id, symbol FROM instruments "
                                "WHERE instrument_id = ANY(%s)", ([i for i, _ in rows],)))
    return [(symbols[i], bytes(payload)) for i, payload in rows]


def merge_bars(*parts: PackedBars) -> PackedBars:
    """One packed history per symbol from several reads (their bars must not repeat a
    date; the order of the bars does not matter)."""
    merged: dict[str, list[bytes]] = {}
    for part in parts:
        for symbol, payload in part:
            merged.setdefault(symbol, []).append(bytes(payload))
    return [(symbol, b"".join(payloads)) for symbol, payloads in merged.items()]


def _unpack(bars: PackedBars) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(symbols, symbol index, day, ln p) of every bar, sorted by symbol and date."""
    bars = sorted(bars, key=lambda bar: bar[0])
    symbols = [symbol for symbol, _ in bars]
    records = np.frombuffer(b"".join(payload for _, payload in bars), dtype=_RECORD)
    ids = np.repeat(np.arange(len(bars), dtype=np.int64),
                    [len(payload) // _RECORD.itemsize for _, payload in bars])
    days = records["day"].astype(np.int64)
    log_price = records["log_price"].astype(np.float64)
    key = (ids << 32) + days
    if not np.all(key[1:] > key[:-1]):  # storage order is usually date order already
        order = np.argsort(key, kind="stable")
        ids, days, log_price = ids[order], days[order], log_price[order]
    return symbols, ids, days, log_price


def _score(ids: np.ndarray, ordinal: np.ndarray, log_price: np.ndarray,
           window: int) -> _Scored:
    """Moves, gaps and the mean of the previous ``window`` moves per bar (see _Scored);
    at least one bar."""
    n = len(ids)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    partition = np.cumsum(starts) - 1
    rank = np.arange(n) - np.flatnonzero(starts)[partition]
    move = np.abs(np.diff(log_price, prepend=np.nan))
    move[starts] = np.nan
    missing = np.diff(ordinal, prepend=0) - 1
    missing[starts] = -1
    # Each instrument's moves are preceded by `window` zeros, so a plain sliding sum over
    # the padded array never reaches into the previous instrument; the sum of the window
    # is added up directly (no running-sum cancellation).
    position = np.arange(n) + window * (partition + 1)
    padded = np.zeros(n + window * (int(partition[-1]) + 1))
    padded[position] = np.where(starts, 0.0, move)
    sums = np.convolve(padded, np.ones(window), mode="valid")
    n_moves = np.clip(rank - 1, 0, window)
    mean_move = np.full(n, np.nan)
    np.divide(sums[position - window], n_moves, out=mean_move, where=n_moves > 0)
    return _Scored(move, missing, n_moves, mean_move)


@dataclass(frozen=True)
class ScoredBars:
    """The window's spike and gap candidates (the parameters of _INSERT_BAR_FLAGS, without
    the thresholds; empty lists when there are none) and the window's bars per session of
    ``session_days`` (the sessions from :func:`history_start` to ten days after the end)."""

    candidates: dict[str, list]
    session_days: np.ndarray
    bars_per_session: np.ndarray


def _session_days(start: date, end: date, quality: QualityConfig) -> np.ndarray:
    return _days(calendar_sessions(history_start(start, quality), end + timedelta(days=10)))


def score(bars: PackedBars, start: date, end: date, quality: QualityConfig) -> ScoredBars:
    """Score the window ``start..end`` of ``bars`` (pure numpy: no database, so a loader can
    run it on another thread while its publish runs)."""
    session_days = _session_days(start, end, quality)
    symbols, ids, days, log_price = _unpack(bars)
    ordinal = np.searchsorted(session_days, days, side="left")
    session = session_days[ordinal]
    in_window = (session >= _days(start)) & (session <= _days(end))
    per_session = np.bincount(ordinal[in_window], minlength=len(session_days))
    picked = np.zeros(0, dtype=np.int64)
    if len(ids):
        s = _score(ids, ordinal, log_price, quality.spike_window)
        # Negated comparisons keep NaN rows as candidates: PostgreSQL, where NaN is above
        # every number, takes the final decision in _INSERT_BAR_FLAGS.
        with np.errstate(invalid="ignore"):
            spike = ((s.n_moves >= quality.spike_min_moves) & ~(s.mean_move <= 0)
                     & ~(s.move <= quality.spike_k * s.mean_move))
        picked = np.flatnonzero(in_window & (spike | (s.missing > quality.gap_sessions)))
    candidates: dict[str, list] = {
        "symbols": [symbols[i] for i in ids[picked]], "trade_dates": _dates(days[picked]),
        "sessions": _dates(session[picked])}
    if len(picked):
        candidates.update(moves=s.move[picked].tolist(), missing=s.missing[picked].tolist(),
                          n_moves=s.n_moves[picked].tolist(),
                          means=s.mean_move[picked].tolist())
    return ScoredBars(candidates, session_days, per_session)


def _insert_bar_flags(conn: psycopg.Connection, scored: ScoredBars,
                      quality: QualityConfig) -> None:
    """Flag the window's spikes and gaps among the scored candidates."""
    if scored.candidates["symbols"]:
        conn.execute(_INSERT_BAR_FLAGS, {
            **scored.candidates, "dataset": DATASET, "k": quality.spike_k,
            "min_moves": quality.spike_min_moves, "gap": quality.gap_sessions})


def _insert_stale_flags(conn: psycopg.Connection, first: date, end: date,
                        session_days: np.ndarray, quality: QualityConfig) -> None:
    """Flag active instruments whose last bar up to ``end`` is more than
    ``stale_sessions`` sessions before ``end`` (however old that bar is)."""
    last = conn.execute(
        """SELECT i.symbol, last.trade_date FROM instruments i
           CROSS JOIN LATERAL (SELECT max(trade_date) AS trade_date FROM market_data m
                               WHERE m.instrument_id = i.instrument_id
                                 AND m.trade_date <= %(end)s) AS last
           WHERE i.active AND last.trade_date IS NOT NULL""",
        {"end": end}).fetchall()
    if not last:
        return
    oldest = min(d for _, d in last)
    if oldest < first:  # a bar older than the history read: count sessions from it
        session_days = _days(calendar_sessions(oldest, end + timedelta(days=10)))
    behind = (np.searchsorted(session_days, _days(end), side="left")
              - np.searchsorted(session_days, _days([d for _, d in last]), side="left"))
    stale = np.flatnonzero(behind > quality.stale_sessions)
    conn.execute(
        """INSERT INTO data_quality_flags (as_of, dataset, check_name, symbol, trade_date,
                                           observed, threshold, reason)
           SELECT %(end)s, %(dataset)s, 'stale', symbol, trade_date, behind, %(stale)s,
                  format('last bar %%s is %%s sessions before %%s (limit %%s)',
                         trade_date, behind, %(end)s::date, %(stale)s)
           FROM unnest(%(symbols)s::text[], %(dates)s::date[], %(behind)s::integer[])
                AS s(symbol, trade_date, behind)""",
        {"end": end, "dataset": DATASET, "stale": quality.stale_sessions,
         "symbols": [last[i][0] for i in stale], "dates": [last[i][1] for i in stale],
         "behind": behind[stale].tolist()})


def run(conn: psycopg.Connection, start: date, end: date, window_sessions: Sequence[date],
        quality: QualityConfig, scored: ScoredBars | None = None) -> dict[str, int]:
    """Replace the window's flags and warning rows in ``data_checks``; return flags per
    check. ``scored``: the window's bars already scored (:func:`score`) by a caller that
    read them itself (a bulk loader scores its new bars while it publishes them); by
    default they are read from ``market_data`` (:func:`read_stored_bars`) and scored."""
    if scored is None:
        scored = score(read_stored_bars(conn, start, end, quality), start, end, quality)
    first = history_start(start, quality)
    session_days = scored.session_days
    conn.execute("DELETE FROM data_quality_flags WHERE dataset = %s AND as_of BETWEEN %s AND %s",
                 (DATASET, start, end))
    conn.execute("""DELETE FROM data_checks WHERE dataset = %s AND severity = 'warning'
                    AND as_of BETWEEN %s AND %s""", (DATASET, start, end))
    _insert_bar_flags(conn, scored, quality)
    _insert_stale_flags(conn, first, end, session_days, quality)
    window = _days(list(window_sessions))
    index = np.minimum(np.searchsorted(session_days, window), len(session_days) - 1)
    checked = np.where(session_days[index] == window, scored.bars_per_session[index], 0)
    conn.execute(
        """INSERT INTO data_checks (as_of, dataset, check_name, rows_checked, rows_failed,
                                    passed, severity)
           SELECT s.as_of, %(dataset)s, c.check_name,
                  CASE WHEN c.check_name = 'stale'
                       THEN (SELECT count(*) FROM instruments WHERE active)
                       ELSE s.bars END,
                  coalesce(f.flagged, 0), true, 'warning'
           FROM unnest(%(sessions)s::date[], %(bars)s::bigint[]) AS s(as_of, bars)
           CROSS JOIN unnest(%(checks)s::text[]) AS c(check_name)
           LEFT JOIN (SELECT as_of, check_name, count(*) AS flagged FROM data_quality_flags
                      WHERE dataset = %(dataset)s AND as_of BETWEEN %(start)s AND %(end)s
                      GROUP BY as_of, check_name) f USING (as_of, check_name)
           WHERE c.check_name <> 'stale' OR s.as_of = %(end)s""",
        {"dataset": DATASET, "start": start, "end": end, "sessions": list(window_sessions),
         "bars": checked.tolist(), "checks": list(WARNING_CHECKS)})
    rows = conn.execute("""SELECT check_name, count(*) FROM data_quality_flags
                           WHERE dataset = %s AND as_of BETWEEN %s AND %s
                           GROUP BY check_name""", (DATASET, start, end)).fetchall()
    found = {name: int(n) for name, n in rows}
    return {name: found.get(name, 0) for name in WARNING_CHECKS}
