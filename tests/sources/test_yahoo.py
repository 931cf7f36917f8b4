"""Yahoo adapter: recorded chart-API payloads replayed through the real yfinance client.

yfinance is given a plain ``requests`` session (``http_backend: requests``) and the
``responses`` library answers Yahoo's cookie, crumb and chart endpoints from the payloads
in ``payloads/yahoo/`` (their origin is in that folder's README)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
import responses

from macroquant import sources
from macroquant.errors import SourceError
from macroquant.sources import yahoo
from macroquant.sources.fetch import (
    BarRequest,
    FetchController,
    RateLimitedError,
    RetryPolicy,
    SourceSpec,
)
from tests.fake_clock import FakeClock

PAYLOADS = Path(__file__).parent / "payloads" / "yahoo"
CONFIG = {"http_backend": "requests"}
CHART = re.compile(r"https://query[12]\.finance\.yahoo\.com/v8/finance/chart/([^?]+)")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::FutureWarning", "ignore::UserWarning")


def _window(payload: dict, query: dict[str, list[str]]) -> dict:
    """What Yahoo answers for ``period1..period2``: the bars and events inside it."""
    if "period1" not in query:
        return payload
    lo, hi = int(query["period1"][0]), int(query["period2"][0])
    result = json.loads(json.dumps(payload["chart"]["result"][0]))
    keep = [i for i, t in enumerate(result["timestamp"]) if lo <= t < hi]
    result["timestamp"] = [result["timestamp"][i] for i in keep]
    quote = result["indicators"]["quote"][0]
    for key in quote:
        quote[key] = [quote[key][i] for i in keep]
    for adj in result["indicators"].get("adjclose", []):  # daily bars only
        adj["adjclose"] = [adj["adjclose"][i] for i in keep]
    for kind, events in list(result.get("events", {}).items()):
        result["events"][kind] = {k: v for k, v in events.items() if lo <= int(k) < hi}
    return {"chart": {"result": [result], "error": None}}


class YahooReplay:
    """Serves payload files by ticker; ``failures`` are (status, headers) answered first."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.payloads: dict[str, list[dict]] = {}
        self.failures: dict[str, list[int]] = {}
        self.chart_calls: list[str] = []
        mock.add(responses.GET, "https://fc.yahoo.com/", body="", status=404)
        mock.add(responses.GET, re.compile(r"https://query[12]\.finance\.yahoo\.com/v1/test/"
                                           r"getcrumb"), body="Rz8n1Xq4abc", status=200)
        mock.add_callback(responses.GET, CHART, callback=self.chart)
        not_found = {"quoteSummary": {"result": None, "error": {
            "code": "Not Found", "description": "Quote not found for symbol"}}}
        mock.add(responses.GET, re.compile(r"https://query[12]\.finance\.yahoo\.com/v10/"
                                           r"finance/quoteSummary/.*"),
                 json=not_found, status=404)
        # after a 4xx/5xx yfinance tries its other cookie strategy (Yahoo's consent pages)
        mock.add(responses.GET, re.compile(r"https://(guce|consent)\.yahoo\.com/.*"),
                 body="", status=404)

    def add(self, ticker: str, filename: str) -> None:
        self.payloads.setdefault(ticker, []).append(
            json.loads((PAYLOADS / filename).read_text()))

    def chart(self, request) -> tuple[int, dict, str]:
        ticker = CHART.match(request.url).group(1).replace("%5E", "^")
        self.chart_calls.append(ticker)
        if self.failures.get(ticker):
            status = self.failures[ticker].pop(0)
            return status, {}, "<html><body>Will be back soon</body></html>"
        if ticker not in self.payloads:
            body = {"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}}
            return 404, {}, json.dumps(body)
        query = parse_qs(urlparse(request.url).query)
        if "period1" not in query:
            return 200, {}, json.dumps(self.payloads[ticker][0])
        lo = int(query["period1"][0])
        for payload in self.payloads[ticker]:
            stamps = payload["chart"]["result"][0]["timestamp"]
            if stamps[0] - 10 * 86400 <= lo <= stamps[-1]:
                return 200, {}, json.dumps(_window(payload, query))
        return 200, {}, json.dumps(_window(self.payloads[ticker][0], query))


@pytest.fixture
def replay(tmp_path):
    import yfinance as yf

    yf.set_tz_cache_location(str(tmp_path / "yfinance-cache"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        served = YahooReplay(mock)
        served.add("AAPL", "chart_AAPL_2005-02.json")
        served.add("AAPL", "chart_AAPL_2012-08.json")
        yield served


def test_daily_bars_parse_the_2005_split_window(replay):
    bars = yahoo.fetch_bars(date(2005, 2, 24), date(2005, 3, 1), ["AAPL"], config=CONFIG)
    assert list(bars["trade_date"].dt.date) == [date(2005, 2, 24), date(2005, 2, 25),
                                                date(2005, 2, 28), date(2005, 3, 1)]
    before, on_split = bars.iloc[1], bars.iloc[2]
    assert (before["open"], before["high"], before["low"], before["close"]) == (
        89.62, 89.91, 88.19, 88.99)
    assert before["volume"] == 16_348_400
    assert on_split["close"] == 44.86 and on_split["adj_close"] == pytest.approx(5.765135)
    # the raw close halves across the 2:1 split; the adjusted close moves 0.82%
    assert on_split["close"] / before["close"] == pytest.approx(0.5041, abs=1e-4)
    assert on_split["adj_close"] / before["adj_close"] == pytest.approx(1.00820, abs=1e-5)


def test_corporate_actions_split_and_dividend(replay):
    split = yahoo.fetch_corporate_actions(date(2005, 2, 22), date(2005, 3, 4), ["AAPL"],
                                          config=CONFIG)
    assert split.to_dict("records") == [{"symbol": "AAPL", "ex_date": pd.Timestamp("2005-02-28"),
                                         "action": "split", "value": 2.0}]
    dividend = yahoo.fetch_corporate_actions(date(2012, 8, 6), date(2012, 8, 10), ["AAPL"],
                                             config=CONFIG)
    assert dividend.to_dict("records") == [{"symbol": "AAPL",
                                            "ex_date": pd.Timestamp("2012-08-09"),
                                            "action": "dividend", "value": 2.65}]


def test_symbol_map_sends_the_vendor_ticker(replay):
    replay.add("^GSPC", "chart_AAPL_2012-08.json")  # any payload: the ticker is what matters
    bars = yahoo.fetch_bars(date(2012, 8, 8), date(2012, 8, 10), ["SPX"], config=CONFIG)
    assert "^GSPC" in replay.chart_calls
    assert list(bars["symbol"].unique()) == ["SPX"]
    assert bars["close"].tolist() == [619.86, 620.73, 621.70]


def test_unknown_ticker_is_a_permanent_error(replay):
    with pytest.raises(SourceError) as caught:
        yahoo.fetch_bars(date(2012, 8, 6), date(2012, 8, 10), ["NOPE"], config=CONFIG)
    assert caught.value.transient is False
    assert caught.value.status == 404


def test_http_429_is_rate_limited_then_retried_to_success(replay):
    replay.failures["AAPL"] = [429, 429]  # the call and yfinance's own second try
    clock = FakeClock()
    spec = SourceSpec(source_id="yahoo", kind="market_data", adapter="yahoo",
                      rate_limit_per_minute=60, config=CONFIG)
    controller = FetchController({"yahoo": spec}, clock=clock, rng=random.Random(1),
                                 retry=RetryPolicy(max_attempts=3, base_delay=2.0, jitter=0.0))
    result = controller.fetch_bars("yahoo", [BarRequest(date(2012, 8, 8), date(2012, 8, 10),
                                                        ("AAPL",))])
    assert result.failures == []
    assert result.outcomes[0].attempts == 2
    assert result.bars["close"].tolist() == [619.86, 620.73, 621.70]
    assert clock.sleeps[0] == 2.0  # one backoff of base_delay before the second attempt


def test_http_503_is_transient(replay):
    replay.failures["AAPL"] = [503, 503]
    with pytest.raises(SourceError) as caught:
        yahoo.fetch_bars(date(2012, 8, 8), date(2012, 8, 10), ["AAPL"], config=CONFIG)
    assert caught.value.transient is True
    assert caught.value.status == 503
    assert not isinstance(caught.value, RateLimitedError)


def test_intraday_bars_in_utc(replay):
    replay.add("SPY", "chart_SPY_5m_2024-03-15.json")
    start = datetime(2024, 3, 15, 13, 30, tzinfo=UTC)
    bars = yahoo.fetch_intraday_bars(start, datetime(2024, 3, 15, 14, 0, tzinfo=UTC),
                                     ["SPY"], config=CONFIG)
    assert bars["bar_time"].iloc[0] == pd.Timestamp("2024-03-15 13:30", tz="UTC")
    assert len(bars) == 6
    assert bars["close"].iloc[-1] == 510.35
    assert bars["volume"].sum() == 4_210_000


def test_adapter_is_listed():
    assert sources.load_adapter("yahoo") is yahoo
