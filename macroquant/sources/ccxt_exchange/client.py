"""Calls an exchange through ``ccxt`` (synchronous client) for OHLCV candles.

ccxt's own rate limiter is switched off: the fetch controller's token bucket paces calls.
Errors map to :class:`SourceError` by HTTP status first, then by ccxt's class: HTTP 429,
``RateLimitExceeded`` or ``DDoSProtection`` → :class:`RateLimitedError` (with the exchange's
``Retry-After`` when sent); HTTP 5xx or any ``NetworkError`` (timeouts, resets) →
transient; anything else (``BadSymbol``, HTTP 4xx) → permanent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import ccxt
from pydantic import BaseModel, ConfigDict

from macroquant.errors import SourceError
from macroquant.sources.fetch import RateLimitedError, parse_retry_after

T = TypeVar("T")
_TIMEFRAME_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                 "6h": 21_600_000, "1d": 86_400_000}


class Candle(BaseModel):
    """One ccxt OHLCV row: ``[timestamp ms, open, high, low, close, volume]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def make_exchange(exchange_id: str, api_url: str | None = None,
                  timeout_ms: int = 20_000) -> ccxt.Exchange:
    """A ccxt exchange without its internal rate limiter; ``api_url`` replaces the REST root."""
    if exchange_id not in ccxt.exchanges:
        raise SourceError(exchange_id, f"unknown ccxt exchange id '{exchange_id}'",
                          transient=False)
    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": False, "timeout": timeout_ms})
    _record_http_status(exchange)
    if api_url is not None:
        api = exchange.urls["api"]
        if isinstance(api, dict):
            exchange.urls["api"] = {key: api_url for key in api}
        else:
            exchange.urls["api"] = api_url
    return exchange


def _record_http_status(exchange: ccxt.Exchange) -> None:
    """Keep the HTTP status of the last response in ``exchange.http_status``: exchanges map
    JSON error bodies before the status (Coinbase's ``internal_server_error`` becomes a
    plain ``ExchangeError``), so the status is what tells a server fault from a bad call."""
    vendor_handler = exchange.handle_errors

    def handle_errors(code: int, *args: Any) -> Any:
        exchange.http_status = code
        return vendor_handler(code, *args)

    exchange.http_status = None
    exchange.handle_errors = handle_errors


def _call(exchange: ccxt.Exchange, source_id: str, what: str, call: Callable[[], T]) -> T:
    exchange.http_status = None
    try:
        return call()
    except ccxt.BaseError as error:
        status = exchange.http_status
        if status == 429 or isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            headers = exchange.last_response_headers or {}
            retry_after = parse_retry_after(headers.get("Retry-After")
                                            or headers.get("retry-after"))
            raise RateLimitedError(source_id, f"{what}: {error}", retry_after=retry_after,
                                   status=status) from error
        if (status is not None and status >= 500) or isinstance(error, ccxt.NetworkError):
            raise SourceError(source_id, f"{what}: HTTP {status}: {type(error).__name__}: "
                              f"{error}", transient=True, status=status) from error
        raise SourceError(source_id, f"{what}: HTTP {status}: {type(error).__name__}: {error}",
                          transient=False, status=status) from error


def ohlcv(exchange: ccxt.Exchange, source_id: str, market: str, timeframe: str,
          start: datetime, end: datetime, per_request: int = 300) -> list[Candle]:
    """Candles of ``market`` opening in ``[start, end)``, fetched in pages of
    ``per_request`` candles (Coinbase's limit is 300 a request)."""
    step = _TIMEFRAME_MS[timeframe]
    since = int(start.astimezone(UTC).timestamp() * 1000)
    until = int(end.astimezone(UTC).timestamp() * 1000)
    _call(exchange, source_id, "load_markets", exchange.load_markets)
    candles: dict[int, Candle] = {}
    while since < until:
        page_end = min(until, since + per_request * step)
        rows = _call(exchange, source_id, f"fetch_ohlcv {market} {timeframe}",
                     lambda s=since, e=page_end: exchange.fetch_ohlcv(
                         market, timeframe, since=s, limit=per_request, params={"until": e}))
        for row in rows:
            candle = Candle(**dict(zip(Candle.model_fields, row, strict=True)))
            if since <= candle.timestamp < page_end:
                candles[candle.timestamp] = candle
        since = page_end
    return [candles[t] for t in sorted(candles)]


def exchange_for(options: Any) -> ccxt.Exchange:
    """The exchange an options object (:class:`CcxtOptions`) names."""
    return make_exchange(options.exchange_id, options.api_url, options.timeout_ms)
