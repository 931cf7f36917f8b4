"""Intraday refresh: the running bar of today's session for active instruments.

Called every N minutes by the ``macroquant_intraday`` DAG. For each active instrument
owned by an enabled market data source whose adapter has a ``fetch_intraday_bars`` hook,
and whose exchange calendar (``instruments.calendar``, e.g. ``XNYS``, ``24/7`` for crypto)
is open at ``as_of``, it fetches the intraday bars from the session's open up to ``as_of``,
folds them into one session-to-date bar (first open, highest high, lowest low, last close,
summed volume) and stages it in ``market_data_staging`` under ``as_of`` = the session's date,
replacing that source's staged rows of the session. The staged rows go through the same
validate stage as daily bars; the daily run after the close replaces them with the final
bar. Outside market hours of an instrument it does nothing for it.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from macroquant.config.settings import Settings
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import database_url, transaction
from macroquant.errors import MissingCredentialError, SourceError
from macroquant.pipeline.ingest import STAGING_COLUMNS
from macroquant.sources.fetch import (
    FetchController,
    FetchOutcome,
    load_source_specs,
    write_outcomes,
)
from macroquant.sources.sample.parse import BAR_COLUMNS

INTRADAY_HOOK = "fetch_intraday_bars"


@lru_cache(maxsize=16)
def _calendar(name: str) -> xcals.ExchangeCalendar:
    return xcals.get_calendar(name)


def open_session(calendar: str, as_of: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(session date, session open in UTC) when ``calendar`` trades at ``as_of``, else None."""
    cal = _calendar(calendar)
    if not cal.is_open_on_minute(as_of):
        return None
    session = cal.minute_to_session(as_of)
    return session, cal.session_open(session)


def session_bar(symbol: str, session: pd.Timestamp, intraday: pd.DataFrame) -> pd.DataFrame:
    """Fold intraday bars (``bar_time, open, high, low, close, volume``) into one bar dated
    ``session``. Pure; an empty input gives an empty frame."""
    if intraday.empty:
        return pd.DataFrame(columns=BAR_COLUMNS)
    bars = intraday.sort_values("bar_time")
    close = float(bars["close"].iloc[-1])
    return pd.DataFrame([{
        "symbol": symbol, "trade_date": pd.Timestamp(session.date()),
        "open": float(bars["open"].iloc[0]), "high": float(bars["high"].max()),
        "low": float(bars["low"].min()), "close": close, "adj_close": close,
        "volume": float(bars["volume"].sum()),
    }], columns=BAR_COLUMNS)


def _candidates(url: str) -> pd.DataFrame:
    with transaction(url) as conn:
        return read_frame(conn, """
            SELECT d.source_id, d.adapter, i.symbol, i.vendor_symbol, i.calendar
            FROM instruments i JOIN data_sources d USING (source_id)
            WHERE i.active AND d.enabled AND d.kind = 'market_data'
            ORDER BY d.source_id, i.symbol""")


def refresh_latest_bars(settings: Settings, as_of: datetime,
                        controller: FetchController | None = None) -> dict[str, int]:
    """Refresh the session-to-date bar of every active instrument whose market is open at
    ``as_of`` (timezone-aware). Returns counts: ``refreshed``, ``closed`` (market shut, no-op),
    ``failed`` (vendor errors, logged to system_logs), ``no_intraday`` (adapter without an
    intraday hook) and ``rows`` staged."""
    if as_of.tzinfo is None:
        raise ValueError(f"as_of {as_of} has no time zone; pass an aware datetime (UTC)")
    now = pd.Timestamp(as_of).tz_convert("UTC").floor("min")
    url = database_url(settings)
    counts = {"refreshed": 0, "closed": 0, "failed": 0, "no_intraday": 0, "rows": 0}
    candidates = _candidates(url)
    if candidates.empty:
        return counts
    if controller is None:
        with transaction(url) as conn:
            controller = FetchController(load_source_specs(conn))
    staged: dict[tuple[str, pd.Timestamp], list[pd.DataFrame]] = {}
    outcomes: list[FetchOutcome] = []
    for row in candidates.itertuples():
        if not hasattr(controller.adapter_loader(row.adapter), INTRADAY_HOOK):
            counts["no_intraday"] += 1
            continue
        opened = open_session(row.calendar, now)
        if opened is None:
            counts["closed"] += 1
            continue
        session, session_open = opened
        outcome = FetchOutcome(row.source_id, INTRADAY_HOOK, (row.symbol,))
        try:
            intraday = controller.call(row.source_id, INTRADAY_HOOK,
                                       session_open.to_pydatetime(), now.to_pydatetime(),
                                       [row.symbol],
                                       config={"symbols": {row.symbol: row.vendor_symbol}},
                                       outcome=outcome)
        except (SourceError, MissingCredentialError) as error:
            outcome.error, outcome.transient = str(error), getattr(error, "transient", False)
            outcomes.append(outcome)
            counts["failed"] += 1
            continue
        bar = session_bar(row.symbol, session, intraday)
        staged.setdefault((row.source_id, session), []).append(bar)
        counts["refreshed"] += 1
    write_outcomes(url, outcomes, run_id=f"intraday__{now.isoformat()}")
    with transaction(url) as conn:
        for (source_id, session), frames in staged.items():
            rows = pd.concat(frames, ignore_index=True)
            rows.insert(0, "source_id", source_id)
            rows["as_of"] = pd.Timestamp(session.date())
            rows["row_number"] = np.arange(len(rows), dtype=np.int64)
            conn.execute("DELETE FROM market_data_staging WHERE source_id = %s AND as_of = %s",
                         (source_id, session.date()))
            counts["rows"] += copy_rows(conn, "market_data_staging", rows, STAGING_COLUMNS)
    return counts


def open_sessions(settings: Settings, as_of: datetime) -> list[date]:
    """The session dates of the exchanges of active instruments that are open at ``as_of``
    (timezone-aware): what an intraday run refreshes and then publishes."""
    if as_of.tzinfo is None:
        raise ValueError(f"as_of {as_of} has no time zone; pass an aware datetime (UTC)")
    now = pd.Timestamp(as_of).tz_convert("UTC").floor("min")
    calendars = sorted(set(_candidates(database_url(settings))["calendar"]))
    opened = (open_session(calendar, now) for calendar in calendars)
    return sorted({session.date() for session, _ in filter(None, opened)})


__all__ = ["open_session", "open_sessions", "refresh_latest_bars", "session_bar"]
