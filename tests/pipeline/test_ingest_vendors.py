"""The ingest stage with vendor adapters: the bundled sample source plus an enabled FRED source
and enabled alternative sources, all served by a local HTTP server on 127.0.0.1 replaying
the vendors' recorded payloads (tests/sources/payloads/) through the real client libraries
(fredapi's urllib, requests). A failing vendor (HTTP 503 every time) is logged, shows in
``macroquant status``, and the other sources are still staged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from psycopg.types.json import Jsonb

from macroquant.db.bulk import read_frame
from macroquant.db.connection import connect, transaction
from macroquant.economics import read_as_of
from macroquant.pipeline import ingest
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.runner import run_stage
from macroquant.sources import sample
from macroquant.sources.alternative.config import DATA_SOURCES as ALTERNATIVE_ROWS
from macroquant.sources.fetch import (
    LOGGER,
    FetchController,
    load_source_specs,
    register_source,
    source_health,
)
from macroquant.sources.fred.config import DATA_SOURCE as FRED_ROW
from tests.cli_output import status_line
from tests.fake_clock import FakeClock
from tests.local_http import LocalHttpServer

PAYLOADS = Path(__file__).parents[1] / "sources" / "payloads"
START, END = date(2024, 2, 1), date(2024, 2, 2)  # Thursday, Friday
GDP = {"series_id": "GDP", "vendor_id": "GDP", "name": "US nominal GDP",
       "frequency": "quarterly", "units": "billions of dollars, SAAR"}


class LocalVendors(LocalHttpServer):
    """FRED, a news wire and Reddit on 127.0.0.1: ``routes[path] = (status, body)``; every
    request (path, query) is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        vendors = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                vendors.requests.append((url.path, parse_qs(url.query)))
                status, body = vendors.routes.get(url.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
        self.root = self.url

    def serve(self, path: str, payload: str, status: int = 200) -> None:
        self.routes[path] = (status, (PAYLOADS / payload).read_bytes())


@pytest.fixture
def vendors() -> Iterator[LocalVendors]:
    local = LocalVendors().start()
    yield local
    local.stop()


@pytest.fixture(autouse=True)
def _keys_and_no_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The FRED key comes from the environment; a hook reaching for the user's default
    database (instead of the config fetch control passes) fails fast."""
    monkeypatch.setenv("FRED_API_KEY", "k-ingest")
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")


def _enable_vendor_rows(url: str, vendors: LocalVendors) -> None:
    """Only the data_sources rows, enabled, with configs pointing at the local server: no
    economic_series rows (the ingest stage must register them itself)."""
    fred_config = {"series": [GDP], "root_url": f"{vendors.root}/fred", "timeout_seconds": 5}
    news_config = {"news_feeds": [{"name": "wire", "url": f"{vendors.root}/feeds/wire.rss"},
                                  {"name": "cb", "url": f"{vendors.root}/feeds/cb.atom"}],
                   "subreddits": ["economics"], "reddit_url": vendors.root,
                   "timeout_seconds": 5,
                   "symbol_keywords": {"AAPL": ["apple", "iphone"], "MSFT": ["microsoft"],
                                       "WTI": ["oil", "opec"], "EURUSD": ["euro"]}}
    with transaction(url) as conn:
        register_source(conn, FRED_ROW)
        for row in ALTERNATIVE_ROWS:
            register_source(conn, row)
        conn.execute("UPDATE data_sources SET enabled = true, config = %s, "
                     "rate_limit_per_minute = 77 WHERE source_id = 'fred'", (Jsonb(fred_config),))
        conn.execute("UPDATE data_sources SET enabled = true, config = %s "
                     "WHERE source_id = 'news_rss'", (Jsonb(news_config),))
        conn.execute("UPDATE data_sources SET enabled = true WHERE source_id = 'reddit'")
        assert conn.execute("SELECT count(*) FROM economic_series WHERE source_id = 'fred'"
                            ).fetchone()[0] == 0


def _serve_all(vendors: LocalVendors) -> None:
    vendors.serve("/fred/series/observations", "fred/gdp_all_releases.xml")
    vendors.serve("/feeds/wire.rss", "alternative/markets_rss.xml")
    vendors.serve("/feeds/cb.atom", "alternative/markets_atom.xml")
    vendors.serve("/r/economics/new.json", "alternative/r_economics_new.json")


def test_ingest_stage_registers_and_fetches_fred_and_alternative(settings, vendors):
    url = settings.database_url
    _enable_vendor_rows(url, vendors)
    _serve_all(vendors)

    written = run_stage("ingest", START, END, "vendors__2024-02-01", settings)

    assert written["economic_indicators"] >= 6  # GDP's 6 vintages, plus the sample series
    assert written["alternative_data"] == 5
    with connect(url) as conn:
        # enabling was enough: the stage registered GDP (the foreign key of its vintages)
        # and left the user's settings alone
        source = read_frame(conn, "SELECT enabled, rate_limit_per_minute, config->>'root_url' "
                                  "AS root FROM data_sources WHERE source_id = 'fred'")
        assert source.iloc[0].tolist() == [True, 77, f"{vendors.root}/fred"]
        vintages = read_frame(conn, """SELECT observation_date, realtime_start, value,
                                              vintage_kind FROM economic_indicators
                                       WHERE series_id = 'GDP' ORDER BY 1, 2""")
        assert list(vintages["value"]) == [16912.9, 16857.6, 16872.3, 17102.5, 17080.7, 17089.6]
        assert list(vintages["realtime_start"].astype(str)) == [
            "2013-11-07", "2013-12-05", "2013-12-20", "2014-01-30", "2014-02-28", "2014-03-27"]
        assert set(vintages["vintage_kind"]) == {"vintage"}
        # read as known on a day: Q4 2013 first printed 17102.5 on 2014-01-30
        assert read_as_of(conn, "GDP", date(2014, 1, 29)).to_dict() == {
            pd.Timestamp("2013-07-01"): 16872.3}
        assert read_as_of(conn, "GDP", date(2014, 3, 26))[pd.Timestamp("2013-10-01")] == 17080.7

        items = read_frame(conn, """SELECT item_id, source_id, symbol, sentiment_score,
                                           published_at FROM alternative_data ORDER BY item_id""")
        # published 2024-02-01..02 (UTC); mw-1003 and t3_1ah2c3d (02-03) are outside the window
        assert list(items["item_id"]) == ["cb:urn:example:cb:1", "t3_1ah2c3c#AAPL",
                                          "t3_1ah2c3c#MSFT", "wire:mw-1001", "wire:mw-1002"]
        by_id = items.set_index("item_id")
        assert list(items["source_id"]) == ["news_rss", "reddit", "reddit", "news_rss",
                                            "news_rss"]
        assert by_id.loc["wire:mw-1001", "symbol"] == "AAPL"
        assert by_id.loc["wire:mw-1001", "sentiment_score"] == pytest.approx(0.6124, abs=1e-4)
        # VADER by hand: warns -0.4, recession -1.8, risk -1.1, unemployment -1.9 → x/√(x²+15)
        assert by_id.loc["wire:mw-1002", "sentiment_score"] == pytest.approx(
            -5.2 / (5.2 ** 2 + 15) ** 0.5, abs=1e-4)
        assert by_id.loc["wire:mw-1002", "published_at"] == pd.Timestamp("2024-02-02 19:00",
                                                                         tz="UTC")
        assert by_id.loc["cb:urn:example:cb:1", "symbol"] == "EURUSD"
        assert by_id.loc["t3_1ah2c3c#MSFT", "sentiment_score"] == pytest.approx(
            3.1 / (3.1 ** 2 + 15) ** 0.5, abs=1e-4)  # "great" 3.1

        staged = read_frame(conn, """SELECT symbol, trade_date FROM market_data_staging
                                     WHERE source_id = 'sample' ORDER BY 1, 2""")
        assert sorted(set(staged["symbol"])) == ["AUDUSD", "EURUSD", "GBPUSD"]
        assert len(staged) == 6  # three ECB rates on 2 days (the US indices end in 2018/19)
        logged = conn.execute("SELECT count(*) FROM system_logs WHERE logger = %s",
                              (LOGGER,)).fetchone()[0]
    assert logged == 0  # nothing failed
    fred_calls = [q for path, q in vendors.requests if path == "/fred/series/observations"]
    assert len(fred_calls) == 1 and fred_calls[0]["api_key"] == ["k-ingest"]
    # the alternative adapter serves both rows in one call: each feed asked once
    assert sorted(p for p, _ in vendors.requests if not p.startswith("/fred")) == [
        "/feeds/cb.atom", "/feeds/wire.rss", "/r/economics/new.json"]

    # a rerun of the window changes nothing
    again = run_stage("ingest", START, END, "vendors__2024-02-01", settings)
    assert (again["economic_indicators"], again["alternative_data"]) == (0, 0)
    assert again["market_data_staging"] == 6


def test_failing_vendor_is_logged_shown_in_status_and_others_continue(
        settings, vendors, monkeypatch, capsys):
    url = settings.database_url
    _enable_vendor_rows(url, vendors)
    _serve_all(vendors)
    vendors.routes["/fred/series/observations"] = (503, b"<html>Service Unavailable</html>")
    with transaction(url) as conn:
        sample.register(conn)  # the stage does it too, but the controller is built first
        conn.execute("UPDATE data_sources SET enabled = false WHERE source_id = 'reddit'")
    with connect(url) as conn:
        clock = FakeClock()
        controller = FetchController(load_source_specs(conn), clock=clock)

    written = ingest.run(StageContext(settings, START, END, "fail__2024-02-01"), controller)

    assert written["market_data_staging"] == 6  # the sample source's bars still staged
    assert written["alternative_data"] == 3  # news_rss only: reddit is disabled
    fred_calls = [p for p, _ in vendors.requests if p == "/fred/series/observations"]
    assert len(fred_calls) == 4  # retried: 4 calls in all
    assert len(clock.sleeps) >= 3 and sum(clock.sleeps) >= (2 + 4 + 8) * 0.75
    with connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM economic_indicators WHERE source_id = 'fred'"
                            ).fetchone()[0] == 0
        logs = read_frame(conn, "SELECT level, message, context, run_id FROM system_logs "
                                "WHERE logger = %s", (LOGGER,))
        health = source_health(conn).set_index("source_id")
    assert len(logs) == 1
    log = logs.iloc[0]
    assert log["level"] == "ERROR" and log["run_id"] == "fail__2024-02-01"
    assert "HTTP 503" in log["message"] and "after 4 attempt(s)" in log["message"]
    assert (log["context"]["source_id"], log["context"]["attempts"],
            log["context"]["transient"]) == ("fred", 4, True)
    assert "HTTP 503" in health.loc["fred", "last_error"]
    assert pd.isna(health.loc["sample", "last_error"])
    assert str(health.loc["sample", "last_delivered_as_of"])[:10] == "2024-02-02"

    out, fred_line = status_line(url, " fred ", monkeypatch, capsys, width=250)
    assert "Source health" in out
    assert "HTTP 503" in fred_line
