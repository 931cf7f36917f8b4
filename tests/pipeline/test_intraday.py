"""Intraday refresh: session-to-date bars while an instrument's exchange is open, no-op
when it is closed, crypto (24/7) on weekends."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pandas as pd
import pytest

from macroquant.db.connection import connect, transaction
from macroquant.errors import SourceError
from macroquant.pipeline.intraday import open_sessions, refresh_latest_bars, session_bar
from macroquant.sources.fetch import FetchController, RetryPolicy, load_source_specs
from tests.fake_clock import FakeClock


class FakeIntraday:
    """5-minute bars from ``start`` to ``end``: bar k has open 100+k, close 100.5+k."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing, self.calls = set(failing), []

    def fetch_intraday_bars(self, start, end, symbols=None, *, config=None):
        self.calls.append((start, end, tuple(symbols), config["symbols"]))
        if self.failing & set(symbols):
            raise SourceError("v", "HTTP 502", transient=True, status=502)
        times = pd.date_range(start, end, freq="5min", inclusive="left")
        k = pd.Series(range(len(times)), dtype=float)
        return pd.DataFrame({"symbol": symbols[0], "bar_time": times, "open": 100 + k,
                             "high": 101 + k, "low": 99 + k, "close": 100.5 + k,
                             "volume": 10.0})


@pytest.fixture
def setup(settings):
    url = settings.database_url
    with transaction(url) as conn:
        conn.execute("""INSERT INTO data_sources (source_id, kind, adapter, enabled)
                        VALUES ('v', 'market_data', 'yahoo', true)""")
        for symbol, asset, calendar in (("SPY", "equity_index", "XNYS"),
                                        ("BTCUSD", "crypto", "24/7")):
            conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                                                     calendar, source_id, vendor_symbol)
                            VALUES (%s, %s, %s, 'USD', %s, 'v', %s)""",
                         (symbol, symbol, asset, calendar, symbol + "-V"))
        specs = load_source_specs(conn)
    return settings, specs


def _controller(specs, fake):
    return FetchController(specs, clock=FakeClock(), rng=random.Random(0),
                           retry=RetryPolicy(max_attempts=2, jitter=0.0),
                           adapter_loader=lambda name: fake)


def staged(url):
    with connect(url) as conn:
        return conn.execute("""SELECT symbol, as_of, trade_date, open, high, low, close, volume
                               FROM market_data_staging ORDER BY symbol""").fetchall()


def test_session_bar_folds_hand_computed():
    bars = pd.DataFrame({"bar_time": pd.to_datetime(["2024-03-15 13:35", "2024-03-15 13:30"],
                                                    utc=True),
                         "open": [2.0, 1.0], "high": [5.0, 3.0], "low": [0.5, 0.9],
                         "close": [4.0, 2.0], "volume": [7.0, 3.0]})
    bar = session_bar("X", pd.Timestamp("2024-03-15"), bars).iloc[0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"]) == (
        1.0, 5.0, 0.5, 4.0, 10.0)


def test_refresh_during_new_york_hours(setup):
    settings, specs = setup
    fake = FakeIntraday()
    as_of = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)  # Friday 10:00 New York
    counts = refresh_latest_bars(settings, as_of, _controller(specs, fake))
    assert counts == {"refreshed": 2, "closed": 0, "failed": 0, "no_intraday": 0, "rows": 2}
    spy = next(c for c in fake.calls if c[2] == ("SPY",))
    assert spy[0] == datetime(2024, 3, 15, 13, 30, tzinfo=UTC) and spy[1] == as_of
    assert spy[3] == {"SPY": "SPY-V"}
    rows = {r[0]: r for r in staged(settings.database_url)}
    # 13:30..13:55 is six 5-minute bars: open 100, high 106, low 99, close 105.5, volume 60
    assert rows["SPY"][1:] == (as_of.date(), as_of.date(), 100.0, 106.0, 99.0, 105.5, 60.0)
    # crypto's session opened at 00:00 UTC: 168 bars to 14:00
    assert rows["BTCUSD"][6:] == (100.5 + 167, 1680.0)


def test_closed_market_is_a_no_op_and_crypto_trades_on_saturday(setup):
    settings, specs = setup
    fake = FakeIntraday()
    saturday = datetime(2024, 3, 16, 15, 0, tzinfo=UTC)
    counts = refresh_latest_bars(settings, saturday, _controller(specs, fake))
    assert counts["closed"] == 1 and counts["refreshed"] == 1
    assert [c[2] for c in fake.calls] == [("BTCUSD",)]
    assert [r[0] for r in staged(settings.database_url)] == ["BTCUSD"]


def test_failure_is_logged_and_others_refresh(setup):
    settings, specs = setup
    counts = refresh_latest_bars(settings, datetime(2024, 3, 15, 14, 0, tzinfo=UTC),
                                 _controller(specs, FakeIntraday(failing={"SPY"})))
    assert counts["failed"] == 1 and counts["refreshed"] == 1
    with connect(settings.database_url) as conn:
        (message,) = conn.execute("SELECT message FROM system_logs WHERE level = 'ERROR'"
                                  ).fetchone()
    assert "fetch_intraday_bars failed after 2 attempt(s)" in message


def test_naive_time_is_refused(setup):
    settings, _ = setup
    with pytest.raises(ValueError, match="no time zone"):
        refresh_latest_bars(settings, datetime(2024, 3, 15, 14, 0))  # noqa: DTZ001


def test_open_sessions_follow_each_instruments_calendar(setup):
    settings, _ = setup
    # Friday 2024-03-15 15:00 UTC = 11:00 New York: XNYS and 24/7 both trade that day
    assert [d.isoformat() for d in open_sessions(
        settings, datetime(2024, 3, 15, 15, 0, tzinfo=UTC))] == ["2024-03-15"]
    # Saturday: only the crypto calendar is open
    assert [d.isoformat() for d in open_sessions(
        settings, datetime(2024, 3, 16, 15, 0, tzinfo=UTC))] == ["2024-03-16"]
    # Friday 22:00 UTC = 18:00 New York: XNYS closed, crypto open
    assert [d.isoformat() for d in open_sessions(
        settings, datetime(2024, 3, 15, 22, 0, tzinfo=UTC))] == ["2024-03-15"]
    with pytest.raises(ValueError, match="no time zone"):
        open_sessions(settings, datetime(2024, 3, 15, 15, 0))
