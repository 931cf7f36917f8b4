"""Incremental ingest: per-instrument fetch ranges from the last stored bar, active
instruments first, graceful degradation, and the sample source's window behaviour kept."""

from __future__ import annotations

import random
from datetime import date

import pandas as pd
import pytest
from psycopg.types.json import Jsonb

from macroquant.db.connection import connect, transaction
from macroquant.errors import SourceError
from macroquant.pipeline import ingest
from macroquant.pipeline.context import StageContext
from macroquant.sources import load_adapter
from macroquant.sources.fetch import FetchController, FetchOptions, load_source_specs
from tests.fake_clock import FakeClock

START = date(2012, 10, 1)  # Monday; the session before is Friday 2012-09-28


class FakeVendor:
    """Bars with close = 100 + day of month for every calendar weekday asked for; symbols in
    ``failing`` answer HTTP 503."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing = set(failing)
        self.calls: list[tuple[date, date, tuple[str, ...], dict]] = []

    def fetch_bars(self, start, end, symbols=None, *, config=None):
        self.calls.append((start, end, tuple(symbols), config["symbols"]))
        if self.failing & set(symbols):
            raise SourceError("vendor", "HTTP 503", transient=True, status=503)
        days = [d for d in pd.date_range(start, end) if d.weekday() < 5]
        return pd.DataFrame([{"symbol": s, "trade_date": d, "open": 100.0 + d.day,
                              "high": 101.0 + d.day, "low": 99.0 + d.day,
                              "close": 100.0 + d.day, "adj_close": 100.0 + d.day,
                              "volume": 1000.0} for s in symbols for d in days])


def test_incremental_starts_hand_computed():
    options = FetchOptions(overlap_days=3, max_catchup_days=10)
    first = date(2012, 9, 29)
    last_bars = pd.Series([pd.Timestamp("2012-09-28"), pd.Timestamp("2012-09-26"), pd.NaT,
                           pd.Timestamp("2012-06-01")])
    starts = ingest.incremental_starts(last_bars, first, options)
    assert list(starts.dt.date) == [date(2012, 9, 26),   # 28 + 1 - 3
                                    date(2012, 9, 24),   # 26 + 1 - 3
                                    first,               # nothing stored: the window
                                    date(2012, 9, 19)]   # capped at 10 days before first
    no_overlap = ingest.incremental_starts(last_bars, first, FetchOptions(overlap_days=0))
    assert no_overlap.iloc[0].date() == first  # never after the window's first day


def _vendor_setup(url: str) -> None:
    with transaction(url) as conn:
        conn.execute("""INSERT INTO data_sources (source_id, kind, adapter, rate_limit_per_minute,
                                                  priority, enabled, config)
                        VALUES ('vendor', 'market_data', 'yahoo', 600, 50, true, %s)""",
                     (Jsonb({"incremental": True, "overlap_days": 3}),))
        for symbol in ("XAAA", "XBBB", "XCCC"):
            conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                                                     source_id, vendor_symbol)
                            VALUES (%s, %s, 'single_stock', 'USD', 'vendor', %s)""",
                         (symbol, symbol, symbol + ".V"))
        # XAAA last stored 2012-09-26; XCCC has an active signal; XBBB has nothing yet
        conn.execute("""INSERT INTO market_data (instrument_id, trade_date, close, source_id)
                        SELECT instrument_id, '2012-09-26', 126, 'vendor' FROM instruments
                        WHERE symbol = 'XAAA'""")
        strategy = conn.execute("""INSERT INTO strategies (name, strategy_type, config,
                                       config_hash, source_file)
                                   VALUES ('t', 'trend', '{}', 'h', 't.yaml')
                                   RETURNING strategy_id""").fetchone()[0]
        conn.execute("""INSERT INTO signals (as_of, strategy_id, instrument_id, strength,
                                             direction, confidence)
                        SELECT '2012-09-28', %s, instrument_id, 0.5, 1, 1 FROM instruments
                        WHERE symbol = 'XCCC'""", (strategy,))


def _controller(url: str, fake: FakeVendor) -> FetchController:
    with connect(url) as conn:
        specs = load_source_specs(conn)
    return FetchController(specs, clock=FakeClock(), rng=random.Random(0),
                           adapter_loader=lambda name: fake if name == "yahoo"
                           else load_adapter(name))


def test_per_instrument_ranges_active_first_and_idempotent(loaded_settings):
    url = loaded_settings.database_url
    _vendor_setup(url)
    fake = FakeVendor()
    context = StageContext(loaded_settings, START, START, "inc")
    written = ingest.run(context, _controller(url, fake))
    assert [(c[0], c[2]) for c in fake.calls] == [
        (date(2012, 9, 29), ("XCCC",)),  # active signal first; no stored bar: the window
        (date(2012, 9, 24), ("XAAA",)),  # 26 Sep + 1 - 3 days of overlap
        (date(2012, 9, 29), ("XBBB",))]
    assert all(c[1] == START for c in fake.calls)
    assert fake.calls[1][3] == {"XAAA": "XAAA.V", "XBBB": "XBBB.V", "XCCC": "XCCC.V"}
    with connect(url) as conn:
        staged = conn.execute("""SELECT symbol, trade_date, as_of, close
                                 FROM market_data_staging WHERE source_id = 'vendor'
                                 ORDER BY symbol, trade_date""").fetchall()
        sample_rows = conn.execute("SELECT count(*) FROM market_data_staging WHERE "
                                   "source_id = 'sample' AND as_of = %s", (START,)).fetchone()[0]
    # XAAA: 24-28 Sep (overlap re-fetch, staged under the window's as_of) and 1 Oct
    assert [(r[1], r[2]) for r in staged if r[0] == "XAAA"] == [
        (date(2012, 9, d), START) for d in (24, 25, 26, 27, 28)] + [(START, START)]
    assert [r[1] for r in staged if r[0] == "XBBB"] == [START]
    assert sample_rows == 10  # the sample source still stages its window (VIX has no 2012)
    assert written["market_data_staging"] == 6 + 1 + 1 + sample_rows
    again = FakeVendor()
    ingest.run(context, _controller(url, again))
    assert [c[:3] for c in again.calls] == [c[:3] for c in fake.calls]  # same ranges


def test_one_failing_instrument_does_not_stop_the_others(loaded_settings):
    url = loaded_settings.database_url
    _vendor_setup(url)
    context = StageContext(loaded_settings, START, START, "deg")
    ingest.run(context, _controller(url, FakeVendor(failing={"XAAA"})))
    with connect(url) as conn:
        staged = {r[0] for r in conn.execute(
            "SELECT DISTINCT symbol FROM market_data_staging WHERE source_id = 'vendor'")}
        errors = conn.execute("""SELECT message, context->>'symbols', run_id FROM system_logs
                                 WHERE level = 'ERROR'""").fetchall()
    assert staged == {"XBBB", "XCCC"}
    assert len(errors) == 1
    assert errors[0][1] == '["XAAA"]' and errors[0][2] == "deg"
    assert "failed after 4 attempt(s)" in errors[0][0] and "HTTP 503" in errors[0][0]


def test_every_market_source_failing_fails_the_stage(loaded_settings):
    url = loaded_settings.database_url
    _vendor_setup(url)
    with transaction(url) as conn:
        conn.execute("UPDATE data_sources SET enabled = false WHERE source_id = 'sample'")
    fake = FakeVendor(failing={"XAAA", "XBBB", "XCCC"})
    controller = _controller(url, fake)
    controller.retry = controller.retry.model_copy(update={"max_attempts": 1})
    with pytest.raises(SourceError, match="every market data source failed"):
        ingest.run(StageContext(loaded_settings, START, START, "all"), controller)
    with connect(url) as conn:  # the failures were logged in their own transaction
        assert conn.execute("SELECT count(*) FROM system_logs WHERE level = 'ERROR'"
                            ).fetchone()[0] == 3
