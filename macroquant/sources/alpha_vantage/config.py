"""Alpha Vantage through the ``alpha_vantage`` client: daily adjusted equity bars
(TIME_SERIES_DAILY_ADJUSTED), FX daily bars (FX_DAILY) and US economic indicators
(REAL_GDP, CPI, ...).

Needs a free key (secret or environment variable ``ALPHAVANTAGE_API_KEY``, the name the
client library itself reads). The free tier allows 25 requests a day and about 5 a minute:
each row counts its requests against a daily quota of 25 (``daily_request_limit``) that
resets at midnight US/Eastern (``quota_timezone``), and the vendor's own daily-limit answer
(:data:`DAILY_LIMIT_MESSAGE`) ends the day early. ``compact`` output (the last 100 points)
is what it serves, which an incremental daily update never exceeds. A backfill needs
``outputsize: full`` (a premium entitlement).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from macroquant.sources.fetch import FetchOptions

SOURCE_ID = "alpha_vantage"
ECONOMIC_SOURCE_ID = "alpha_vantage_economic"
CREDENTIALS_REF = "ALPHAVANTAGE_API_KEY"
FX_PREFIX = "FX:"  # vendor symbol "FX:EUR/USD" -> FX_DAILY from EUR to USD
# The free tier's daily quota, as fetch control counts it (see macroquant.sources.quota).
DAILY_QUOTA = {"daily_request_limit": 25, "quota_timezone": "America/New_York"}
# The "Information" reply once the day's quota is used up, e.g. "... our standard API rate
# limit is 25 requests per day. Please subscribe to any of the premium plans ... to instantly
# remove all daily rate limits." (the per-minute "call frequency" note is another matter).
DAILY_LIMIT_MESSAGE = re.compile(r"requests? per day|daily rate limit", re.IGNORECASE)

DEFAULT_SYMBOLS = {
    "AAPL": "AAPL", "IBM": "IBM", "MSFT": "MSFT", "GOOG": "GOOG",
    "EURUSD": "FX:EUR/USD", "GBPUSD": "FX:GBP/USD", "AUDUSD": "FX:AUD/USD",
}


class AlphaVantageOptions(FetchOptions):
    """``data_sources.config`` of the Alpha Vantage sources."""

    outputsize: Literal["compact", "full"] = "compact"


class AlphaVantageSeries(BaseModel):
    """One economic indicator: the client method's name and arguments, and the publication
    lag standing in for vintages (Alpha Vantage serves only the latest values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str
    name: str
    method: Literal["get_real_gdp", "get_cpi", "get_unemployment", "get_inflation"]
    interval: Literal["quarterly", "monthly", "annual"] | None
    frequency: Literal["monthly", "quarterly", "annual"]
    units: str
    publication_lag_days: int = Field(ge=0)
    notes: str


ECONOMIC_SERIES = (
    AlphaVantageSeries(series_id="AV_REAL_GDP_Q", name="US real GDP (Alpha Vantage, quarterly)",
                       method="get_real_gdp", interval="quarterly", frequency="quarterly",
                       units="billions of chained dollars", publication_lag_days=30,
                       notes="BEA advance estimate ~30 days after the quarter; latest values "
                       "only (revisions overwrite), so a publication lag stands in"),
    AlphaVantageSeries(series_id="AV_CPI_M", name="US CPI-U (Alpha Vantage, monthly)",
                       method="get_cpi", interval="monthly", frequency="monthly",
                       units="index 1982-1984=100", publication_lag_days=15,
                       notes="BLS releases CPI about two weeks after the month ends"),
)

DATA_SOURCES = (
    {
        "source_id": SOURCE_ID, "kind": "market_data", "adapter": "alpha_vantage",
        "description": "Alpha Vantage daily adjusted equities and FX daily; free key, "
        "25 requests/day, ~5/minute",
        "credentials_ref": CREDENTIALS_REF, "rate_limit_per_minute": 5, "priority": 40,
        "schedule": "daily", "enabled": False,
        "config": {"incremental": True, "overlap_days": 5, **DAILY_QUOTA},
    },
    {
        "source_id": ECONOMIC_SOURCE_ID, "kind": "economic", "adapter": "alpha_vantage",
        "description": "Alpha Vantage US economic indicators (latest values, dated by a "
        "publication lag)",
        "credentials_ref": CREDENTIALS_REF, "rate_limit_per_minute": 5, "priority": 40,
        "schedule": "daily", "enabled": False, "config": {**DAILY_QUOTA},
    },
)
