"""The no-look-ahead property, with hypothesis on real PostgreSQL: adding a later vintage or
a later observation never changes any value read as of an earlier date."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macroquant.economics import (
    pop_change,
    read_as_of,
    read_panel_as_of,
    read_vintages,
    release_surprise,
    rolling_zscore,
    snapshot,
)
from tests.economics import create_series, insert_vintages

SERIES = "H_CPI"
START = date(2020, 1, 1)
DAYS = [START + timedelta(days=i) for i in range(0, 300)]


def _month(index: int) -> date:
    return date(2020, 1 + index, 1)


# (month index of the observation, days after its start when published, value)
vintage = st.tuples(st.integers(0, 5), st.integers(0, 120),
                    st.floats(50, 150, allow_nan=False).map(lambda x: round(x, 3)))


def _rows(raw: list[tuple[int, int, float]]) -> list[tuple[date, date, float]]:
    seen: dict[tuple[date, date], float] = {}
    for month, lag, value in raw:
        obs = _month(month)
        seen.setdefault((obs, obs + timedelta(days=lag)), value)
    return [(obs, rt, value) for (obs, rt), value in seen.items()]


def _reads(conn: psycopg.Connection, days: list[date], release_days: set[date]) -> dict:
    """Everything a strategy could derive on each day: the series and its latest value
    (every day), transforms and release surprises (release days and every 5th day)."""
    panel = read_panel_as_of(conn, [SERIES], days)[SERIES]
    out = {}
    for i, day in enumerate(days):
        series = read_as_of(conn, SERIES, day)
        out[day] = (series.to_dict(), panel.at[pd.Timestamp(day)])
        if day in release_days or i % 5 == 0 or i == len(days) - 1:
            surprise = release_surprise(read_vintages(conn, [SERIES], day), day)
            out[day] += (pop_change(series, "monthly").to_dict(),
                         rolling_zscore(series, 3, min_periods=2).to_dict(),
                         surprise[["baseline", "surprise"]].to_dict())
    return out


@pytest.fixture
def conn(db_url: str):
    with psycopg.connect(db_url, autocommit=True) as connection:
        create_series(connection, SERIES)
        yield connection


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.lists(vintage, min_size=0, max_size=12),
       added=st.lists(vintage, min_size=1, max_size=3))
def test_later_vintages_never_change_earlier_reads(conn, base, added):
    conn.execute("DELETE FROM economic_indicators WHERE series_id = %s", (SERIES,))
    base_rows = _rows(base)
    taken = {(obs, rt) for obs, rt, _ in base_rows}
    new_rows = [row for row in _rows(added) if (row[0], row[1]) not in taken]
    if not new_rows:
        return
    insert_vintages(conn, SERIES, base_rows)
    first_new = min(rt for _, rt, _ in new_rows)
    earlier = [d for d in DAYS if d < first_new]
    release_days = {rt for _, rt, _ in base_rows}
    before = _reads(conn, earlier, release_days)

    insert_vintages(conn, SERIES, new_rows)
    after = _reads(conn, earlier, release_days)
    nan_safe = {d: repr(v) for d, v in before.items()}
    assert {d: repr(v) for d, v in after.items()} == nan_safe

    # not vacuous: on the first new release day the new rows are visible
    visible = read_as_of(conn, SERIES, first_new)
    for obs, rt, value in new_rows:
        if rt == first_new:
            assert visible[pd.Timestamp(obs)] == value


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(vintage, min_size=1, max_size=15), day=st.sampled_from(DAYS))
def test_sql_read_matches_pure_snapshot(conn, raw, day):
    conn.execute("DELETE FROM economic_indicators WHERE series_id = %s", (SERIES,))
    rows = _rows(raw)
    insert_vintages(conn, SERIES, rows)
    frame = pd.DataFrame(rows, columns=["observation_date", "realtime_start", "value"])
    frame = frame.astype({"observation_date": "datetime64[ns]",
                          "realtime_start": "datetime64[ns]"})
    expected = snapshot(frame, day)
    got = read_as_of(conn, SERIES, day)
    assert got.to_dict() == expected.to_dict()
    # every value read is public by the day and is the newest such vintage
    for obs, value in got.items():
        public = [(rt, v) for o, rt, v in rows if pd.Timestamp(o) == obs and rt <= day]
        assert value == max(public)[1]
