"""Yahoo Finance through ``yfinance``: daily and intraday bars, splits and dividends.

No API key. Yahoo publishes no rate limit for its chart API; 60 calls a minute keeps well
clear of the throttling users report. Registered disabled: enable it with
``macroquant sources enable yahoo``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from macroquant.sources.fetch import FetchOptions

SOURCE_ID = "yahoo"

# MacroQuant symbol -> Yahoo ticker, for the bundled universe. ``config["symbols"]`` (or an
# instrument's ``vendor_symbol``) adds to or overrides it.
DEFAULT_SYMBOLS = {
    "SPX": "^GSPC", "IXIC": "^IXIC", "VIX": "^VIX",
    "AAPL": "AAPL", "IBM": "IBM", "MSFT": "MSFT", "GOOG": "GOOG",
    "EURUSD": "EURUSD=X", "GBPUSD": "GBPUSD=X", "AUDUSD": "AUDUSD=X",
    "WTI": "CL=F",  # NYMEX front-month future: Yahoo has no WTI spot series
}


class YahooOptions(FetchOptions):
    """``data_sources.config`` of the Yahoo source."""

    http_backend: Literal["curl_cffi", "requests"] = "curl_cffi"  # requests: tests, proxies
    intraday_interval: Literal["1m", "2m", "5m", "15m", "30m", "60m"] = "5m"
    timeout_seconds: float = Field(20.0, gt=0)


DATA_SOURCE = {
    "source_id": SOURCE_ID,
    "kind": "market_data",
    "adapter": "yahoo",
    "description": "Yahoo Finance chart API via yfinance: daily/intraday bars, splits, "
    "dividends; no key, unofficial (no published limits)",
    "credentials_ref": None,
    "rate_limit_per_minute": 60,
    "priority": 50,
    "schedule": "daily",
    "enabled": False,
    "config": {"incremental": True, "overlap_days": 5},
}
