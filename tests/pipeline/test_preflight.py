"""The pre-flight: a run is checked before its first stage writes a row."""

from __future__ import annotations

import re
from datetime import date

import psycopg
import pytest

from macroquant.pipeline.ingest import load_sample_history
from macroquant.pipeline.preflight import (
    PreflightError,
    check_window,
    daily_session,
    preflight,
    sample_spans,
)

TODAY = date(2012, 10, 3)  # the injected clock: a Wednesday


@pytest.mark.parametrize(("start", "end", "message"), [
    (date(2012, 10, 2), date(2012, 10, 1), "window end 2012-10-01 is before its start 2012-10-02"),
    (date(2012, 10, 1), date(2012, 10, 4), "window end 2012-10-04 is after today (2012-10-03)"),
    (date(2012, 9, 29), date(2012, 9, 30), "holds no XNYS trading session"),  # a weekend
    (date(1900, 1, 2), date(1900, 1, 3), "is outside the XNYS calendar"),
])
def test_bad_windows_are_refused_by_the_injected_clock(start, end, message):
    with pytest.raises(PreflightError, match=re.escape(message)):
        check_window(start, end, TODAY)


def test_good_window_gives_its_sessions():
    assert check_window(date(2012, 9, 28), TODAY, TODAY) == [
        date(2012, 9, 28), date(2012, 10, 1), date(2012, 10, 2), date(2012, 10, 3)]


def test_daily_session_maps_a_weekend_and_refuses_the_future():
    assert daily_session(date(2012, 9, 30), TODAY) == date(2012, 9, 28)
    assert daily_session(TODAY, TODAY) == TODAY
    with pytest.raises(PreflightError, match="--as-of 2012-10-04 is after today"):
        daily_session(date(2012, 10, 4), TODAY)


def test_bundled_spans_are_what_the_readme_says():
    spans = sample_spans()
    for stock in ("AAPL", "IBM", "MSFT", "GOOG"):
        assert spans[stock][1] == date(2013, 3, 1)
    assert spans["GOOG"][0] == date(2004, 8, 19) and spans["AAPL"][0] == date(2000, 3, 1)
    assert spans["SPX"] == (date(1999, 1, 4), date(2018, 12, 31))


def test_a_window_with_data_passes(loaded_settings):
    report = preflight(loaded_settings, date(2012, 10, 1), date(2012, 10, 5),
                       today=date(2026, 1, 2))
    assert report.sessions[0] == date(2012, 10, 1) and len(report.sessions) == 5
    assert {s.config.name for s in report.strategies} == {"ewma_trend", "zscore_reversion"}
    assert report.warnings == []


@pytest.fixture
def history_to_feb_2013(loaded_settings):
    """The loaded history extended to 2013-02-22, the session before 2013-02-25."""
    load_sample_history(loaded_settings, end=date(2013, 2, 22), start=date(2012, 10, 1))
    return loaded_settings


def test_a_history_that_stops_before_the_window_is_refused(loaded_settings):
    # the run fetches its window only: a hole of five months would stay
    with pytest.raises(PreflightError, match=re.escape(
            "stale market data: AAPL (last bar 2012-09-28), AUDUSD (last bar 2012-09-28)")) \
            as refused:
        preflight(loaded_settings, date(2013, 2, 25), date(2013, 3, 1), today=date(2026, 1, 2))
    assert "`macroquant ingest sample --end 2013-02-22`" in str(refused.value)


@pytest.mark.parametrize("end", [date(2013, 3, 28), date(2013, 3, 8), date(2013, 3, 4)])
def test_stocks_going_stale_in_the_window_are_named(history_to_feb_2013, end):
    # the week after the bundled stocks end (2013-03-01) trades carried prices: said so
    report = preflight(history_to_feb_2013, date(2013, 2, 25), end, today=date(2026, 1, 2))
    stale = [w.split(":")[0] for w in report.warnings]
    assert stale == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert report.warnings[0].startswith(
        f"AAPL: the last stored or bundled bar is of 2013-03-01, before the window's end {end}")


def test_no_warning_when_the_data_reaches_the_end(history_to_feb_2013):
    assert preflight(history_to_feb_2013, date(2013, 2, 25), date(2013, 3, 1),
                     today=date(2026, 1, 2)).warnings == []


def test_an_account_with_later_state_is_refused_before_any_write(loaded_settings):
    with psycopg.connect(loaded_settings.database_url) as conn:
        conn.execute("""INSERT INTO performance (as_of, scope, equity, daily_pnl, daily_return,
                                                 drawdown, gross_exposure, net_exposure)
                        VALUES ('2012-11-30', 'portfolio', 1e6, 0, 0, 0, 0, 0)""")
    with pytest.raises(PreflightError, match="the paper account already has state up to "
                                             "2012-11-30, after this window's end 2012-10-05"):
        preflight(loaded_settings, date(2012, 10, 1), date(2012, 10, 5), today=date(2026, 1, 2))
