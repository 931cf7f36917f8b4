"""The vectorised calendar lookup agrees with the per-date one."""

from __future__ import annotations

import pandas as pd

from macroquant.calendars import _calendar, session_on_or_after, sessions_on_or_after


def test_sessions_on_or_after_equals_the_per_date_lookup_over_decades():
    days = pd.Series(pd.date_range("1985-01-01", "2026-12-31", freq="D"))
    vectorised = sessions_on_or_after(days)
    expected = [pd.Timestamp(session_on_or_after(d.date())) for d in days]
    assert vectorised.tolist() == expected


def test_hand_picked_days_nat_and_days_past_the_calendar():
    last = _calendar("XNYS").sessions[-1]
    days = pd.Series([pd.Timestamp("2024-01-06"),   # Saturday -> Monday 8th
                      pd.Timestamp("2024-07-04"),   # holiday -> Friday 5th
                      pd.Timestamp("2024-07-05"),   # a session: itself
                      pd.NaT, last + pd.Timedelta(days=1)])
    assert sessions_on_or_after(days).tolist()[:3] == [
        pd.Timestamp("2024-01-08"), pd.Timestamp("2024-07-05"), pd.Timestamp("2024-07-05")]
    assert sessions_on_or_after(days)[3:].isna().all()
