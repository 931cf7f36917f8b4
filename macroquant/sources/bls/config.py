"""BLS source (public API v2): the ``data_sources`` row and the series it fetches.

The BLS API serves only the latest value of each observation (no vintages), so each row's
``realtime_start`` is the period's end plus the series' documented publication lag and its
``vintage_kind`` is ``'publication_lag'``. CPI is published about two weeks after the month
ends and the Employment Situation (unemployment) on the first Friday after it: the lags
below are the typical gaps (the latest the release came in recent years), so a value is
never treated as known before it was. API v2 needs a free registration key
(https://data.bls.gov/registrationEngine/), stored as the secret ``BLS_API_KEY``; v2 allows
50 series and 20 years per request and 500 requests a day.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE_ID = "bls"
SECRET_NAME = "BLS_API_KEY"
API_URL = "https://api.bls.gov/publicAPI/v2/timeseries/data/"
MAX_YEARS_PER_REQUEST = 20
MAX_SERIES_PER_REQUEST = 50

DATA_SOURCE: dict[str, object] = {
    "source_id": SOURCE_ID,
    "kind": "economic",
    "adapter": "bls",
    "description": "US Bureau of Labor Statistics public API v2 (JSON POST); latest values "
    "dated by a documented publication lag; needs the secret BLS_API_KEY",
    "credentials_ref": SECRET_NAME,
    "rate_limit_per_minute": 50,
    "priority": 400,
    "schedule": "daily",
    "enabled": False,
}


class BlsSeries(BaseModel):
    """One BLS series: ``bls_id`` is the BLS series id, ``series_id`` MacroQuant's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str = Field(min_length=1)
    bls_id: str = Field(min_length=1)
    name: str
    frequency: Literal["monthly", "quarterly", "annual"]
    units: str
    publication_lag_days: int = Field(ge=0)
    notes: str = ""


class BlsConfig(BaseModel):
    """What the BLS source fetches and from where (``api_url`` for a replay)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: tuple[BlsSeries, ...]
    api_url: str = API_URL
    timeout_seconds: float = Field(default=30.0, gt=0)


DEFAULT_SERIES = (
    BlsSeries(series_id="BLS_CPI_U_NSA", bls_id="CUUR0000SA0",
              name="CPI-U, all items, US city average, not seasonally adjusted",
              frequency="monthly", units="index 1982-84=100", publication_lag_days=15,
              notes="CPI comes 10-15 days after the month ends; NSA CPI is not revised"),
    BlsSeries(series_id="BLS_UNEMPLOYMENT_RATE", bls_id="LNS14000000",
              name="Unemployment rate (CPS), seasonally adjusted", frequency="monthly",
              units="percent", publication_lag_days=10,
              notes="Employment Situation: first Friday after the month (at most ~10 days); "
                    "seasonal factors are revised each January and BLS serves only the "
                    "latest numbers"),
)

DEFAULT_CONFIG = BlsConfig(series=DEFAULT_SERIES)
