"""Trading days from real exchange calendars (exchange-calendars)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

DEFAULT_CALENDAR = "XNYS"
# exchange-calendars starts 20 years back by default; MacroQuant's history is older.
_CALENDAR_START = "1980-01-01"


@lru_cache(maxsize=8)
def _calendar(name: str) -> xcals.ExchangeCalendar:
    return xcals.get_calendar(name, start=_CALENDAR_START)


def sessions(start: date, end: date, calendar: str = DEFAULT_CALENDAR) -> list[date]:
    """The trading sessions of ``calendar`` from ``start`` to ``end`` inclusive."""
    if end < start:
        return []
    index = _calendar(calendar).sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [ts.date() for ts in index]


def is_session(day: date, calendar: str = DEFAULT_CALENDAR) -> bool:
    """Whether ``day`` is a trading session."""
    return _calendar(calendar).is_session(pd.Timestamp(day))


def previous_session(day: date, calendar: str = DEFAULT_CALENDAR) -> date:
    """The last session strictly before ``day``."""
    cal, ts = _calendar(calendar), pd.Timestamp(day)
    if cal.is_session(ts):
        return cal.previous_session(ts).date()
    return cal.date_to_session(ts, direction="previous").date()


def session_on_or_before(day: date, calendar: str = DEFAULT_CALENDAR) -> date:
    """``day`` if it is a session, else the session before it."""
    return _calendar(calendar).date_to_session(pd.Timestamp(day), direction="previous").date()


def session_on_or_after(day: date, calendar: str = DEFAULT_CALENDAR) -> date:
    """``day`` if it is a session, else the next session: the first pipeline date on which
    a value dated ``day`` is available."""
    return _calendar(calendar).date_to_session(pd.Timestamp(day), direction="next").date()


def sessions_on_or_after(days: pd.Series, calendar: str = DEFAULT_CALENDAR) -> pd.Series:
    """:func:`session_on_or_after` of every date in ``days`` (Timestamps; NaT stays NaT, and
    so does a date after the calendar's last session), in one binary search."""
    known = _calendar(calendar).sessions
    values = pd.to_datetime(days).dt.normalize().to_numpy(dtype="datetime64[ns]")
    position = known.searchsorted(values, side="left")
    inside = (position < len(known)) & ~pd.isna(values)
    result = pd.Series(pd.NaT, index=days.index, dtype="datetime64[ns]")
    result[inside] = known[position[inside]].to_numpy(dtype="datetime64[ns]")
    return result


def session_open_close(day: date, calendar: str = DEFAULT_CALENDAR) -> tuple[datetime, datetime]:
    """Open and close of session ``day`` in UTC (early closes included)."""
    cal, stamp = _calendar(calendar), pd.Timestamp(day)
    return cal.session_open(stamp).to_pydatetime(), cal.session_close(stamp).to_pydatetime()
