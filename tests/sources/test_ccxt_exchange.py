"""CCXT adapter: the real ccxt Coinbase client pointed at a local fake of Coinbase's
Advanced Trade public market endpoints (``urls['api']`` replaced), serving Coinbase's
documented JSON from ``payloads/coinbase/``."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from macroquant.errors import SourceError
from macroquant.sources import ccxt_exchange
from macroquant.sources.fetch import (
    BarRequest,
    FetchController,
    RateLimitedError,
    RetryPolicy,
    SourceSpec,
)
from tests.fake_clock import FakeClock
from tests.local_http import running

PAYLOADS = Path(__file__).parent / "payloads" / "coinbase"
PRODUCTS = "/api/v3/brokerage/market/products"


class FakeCoinbase(BaseHTTPRequestHandler):
    """Coinbase's public market endpoints; ``server.failures`` are answered first."""

    def log_message(self, *args) -> None:  # keep pytest output quiet
        pass

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        self.server.paths.append(url.path)
        static = {"/v2/currencies": "v2_currencies.json",
                  "/v2/currencies/crypto": "v2_currencies_crypto.json",
                  "/v2/exchange-rates": "v2_exchange_rates.json"}
        if url.path in static:
            self._send(200, json.loads((PAYLOADS / static[url.path]).read_text()))
            return
        if url.path == PRODUCTS:
            self._send(200, json.loads((PAYLOADS / "market_products.json").read_text()))
            return
        if url.path.startswith(PRODUCTS + "/") and url.path.endswith("/candles"):
            product = url.path.split("/")[-2]
            self.server.candle_queries.append(parse_qs(url.query))
            if self.server.failures:
                status, headers = self.server.failures.pop(0)
                body = ({"errors": [{"id": "rate_limit_exceeded", "message": "Too many "
                                     "requests"}]} if status == 429 else
                        {"error": "internal_server_error", "message": "try later"})
                self._send(status, body, headers)
                return
            if product != "BTC-USD":
                self._send(404, {"error": "NOT_FOUND", "message": "product not found"})
                return
            query = parse_qs(url.query)
            lo, hi = int(query["start"][0]), int(query["end"][0])
            candles = json.loads((PAYLOADS / "candles_BTC-USD_ONE_DAY.json").read_text())
            keep = [c for c in candles["candles"] if lo <= int(c["start"]) <= hi]
            self._send(200, {"candles": keep})
            return
        self._send(404, {"error": "NOT_FOUND", "message": url.path})


@pytest.fixture
def coinbase():
    with running(FakeCoinbase) as local:
        server = local.server
        server.paths, server.candle_queries, server.failures = [], [], []
        server.config = {"api_url": local.url}
        yield server


def test_daily_candles_parse(coinbase):
    bars = ccxt_exchange.fetch_bars(date(2024, 1, 6), date(2024, 1, 8), ["BTCUSD"],
                                    config=coinbase.config)
    assert PRODUCTS in coinbase.paths  # load_markets first
    query = coinbase.candle_queries[0]
    assert query["granularity"] == ["ONE_DAY"]
    assert int(query["start"][0]) == int(datetime(2024, 1, 6, tzinfo=UTC).timestamp())
    assert list(bars["trade_date"]) == list(pd.date_range("2024-01-06", "2024-01-08"))
    saturday = bars.iloc[0]  # 6 Jan 2024 was a Saturday: crypto bars exist on weekends
    assert (saturday["open"], saturday["high"], saturday["low"], saturday["close"]) == (
        44155.01, 44494.00, 43644.00, 43973.11)
    assert saturday["volume"] == pytest.approx(8311.24836)
    assert (bars["adj_close"] == bars["close"]).all()


def test_pages_of_candles_are_joined(coinbase):
    bars = ccxt_exchange.fetch_bars(date(2024, 1, 5), date(2024, 1, 9), ["BTCUSD"],
                                    config={**coinbase.config, "candles_per_request": 2})
    assert len(coinbase.candle_queries) == 3  # 5 days in pages of 2
    assert bars["close"].tolist() == [44155.01, 43973.11, 43930.00, 46942.54, 46122.72]


def test_429_with_retry_after_then_success(coinbase):
    coinbase.failures = [(429, {"Retry-After": "7"})]
    spec = SourceSpec(source_id="coinbase", kind="market_data", adapter="ccxt_exchange",
                      rate_limit_per_minute=600, config=coinbase.config)
    clock = FakeClock()
    control = FetchController({"coinbase": spec}, clock=clock, rng=random.Random(0),
                              retry=RetryPolicy(base_delay=1.0, jitter=0.0))
    result = control.fetch_bars("coinbase", [BarRequest(date(2024, 1, 6), date(2024, 1, 8),
                                                        ("BTCUSD",))])
    assert result.failures == [] and result.outcomes[0].attempts == 2
    assert 7.0 in clock.sleeps  # the exchange's Retry-After, longer than the 1 s backoff
    assert len(result.bars) == 3


def test_5xx_is_transient_and_unknown_product_permanent(coinbase):
    coinbase.failures = [(503, {})]
    with pytest.raises(SourceError) as server_error:
        ccxt_exchange.fetch_bars(date(2024, 1, 6), date(2024, 1, 8), ["BTCUSD"],
                                 config=coinbase.config)
    assert server_error.value.transient is True
    assert not isinstance(server_error.value, RateLimitedError)
    with pytest.raises(SourceError) as unknown:
        ccxt_exchange.fetch_bars(date(2024, 1, 6), date(2024, 1, 8), ["DOGEUSD"],
                                 config={**coinbase.config, "symbols": {"DOGEUSD": "DOGE/USD"}})
    assert unknown.value.transient is False


def test_unknown_exchange_id_is_permanent():
    with pytest.raises(SourceError, match="unknown ccxt exchange id 'nope'"):
        ccxt_exchange.fetch_bars(date(2024, 1, 6), date(2024, 1, 8), ["BTCUSD"],
                                 config={"exchange_id": "nope"})
