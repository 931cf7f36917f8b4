"""Crypto daily bars through ``ccxt``: Coinbase by default, any ccxt exchange id by config.

Public market data needs no key. Crypto trades around the clock: a daily bar is the
exchange's UTC day (00:00 to 24:00 UTC, Coinbase's ``ONE_DAY`` candle), dated by that UTC
date, including Saturdays and Sundays; see docs/data-sources.md for how such bars meet the
pipeline's sessions.
"""

from __future__ import annotations

from pydantic import Field

from macroquant.sources.fetch import FetchOptions

SOURCE_ID = "coinbase"
DEFAULT_SYMBOLS = {"BTCUSD": "BTC/USD", "ETHUSD": "ETH/USD"}


class CcxtOptions(FetchOptions):
    """``data_sources.config`` of a ccxt source."""

    exchange_id: str = "coinbase"  # any id in ccxt.exchanges
    timeframe: str = "1d"
    intraday_timeframe: str = "5m"
    candles_per_request: int = Field(300, ge=1, le=1000)  # Coinbase serves at most 300
    api_url: str | None = None  # replaces the exchange's REST root (a proxy, a test server)
    timeout_ms: int = Field(20_000, ge=1000)


DATA_SOURCE = {
    "source_id": SOURCE_ID,
    "kind": "market_data",
    "adapter": "ccxt_exchange",
    "description": "Coinbase (ccxt) public daily candles, UTC days incl. weekends; no key",
    "credentials_ref": None,
    "rate_limit_per_minute": 600,  # Coinbase public endpoints allow 10 requests a second
    "priority": 50,
    "schedule": "daily",
    "enabled": False,
    "config": {"incremental": True, "overlap_days": 3, "exchange_id": "coinbase"},
}
