"""FRED/ALFRED source: the ``data_sources`` row and the series it fetches.

ALFRED (the archival side of FRED) keeps every vintage of every observation, so rows from
this source are ``vintage_kind = 'vintage'``: ``realtime_start`` is the day the value was
published, exactly as ALFRED gives it. The API needs a free key
(https://fred.stlouisfed.org/docs/api/api_key.html), stored as the secret ``FRED_API_KEY``.
The series list can be replaced through the row's ``config`` (``{"series": [...]}``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE_ID = "fred"
SECRET_NAME = "FRED_API_KEY"
ROOT_URL = "https://api.stlouisfed.org/fred"

DATA_SOURCE: dict[str, object] = {
    "source_id": SOURCE_ID,
    "kind": "economic",
    "adapter": "fred",
    "description": "FRED/ALFRED (St. Louis Fed): every vintage of each series through "
    "fredapi; needs the secret FRED_API_KEY",
    "credentials_ref": SECRET_NAME,
    "rate_limit_per_minute": 120,  # FRED's documented limit per key
    "priority": 500,
    "schedule": "daily",
    "enabled": False,
}

Frequency = Literal["daily", "weekly", "monthly", "quarterly", "annual"]


class FredSeries(BaseModel):
    """One FRED series: ``vendor_id`` is FRED's id, ``series_id`` MacroQuant's (they differ
    only when a FRED id is already used by another source)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str = Field(min_length=1)
    vendor_id: str = Field(min_length=1)
    name: str
    frequency: Frequency
    units: str
    asset_class: str | None = None
    notes: str = ""


class FredConfig(BaseModel):
    """What the FRED source fetches and from where (``root_url`` for a local replay)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: tuple[FredSeries, ...]
    root_url: str = ROOT_URL
    timeout_seconds: float = Field(default=30.0, gt=0)


DEFAULT_SERIES = (
    FredSeries(series_id="GDPC1", vendor_id="GDPC1", name="US real GDP",
               frequency="quarterly", units="billions of chained dollars, SAAR",
               notes="BEA advance estimate ~30 days after the quarter, then revised"),
    FredSeries(series_id="CPIAUCSL", vendor_id="CPIAUCSL", name="US CPI, all urban consumers",
               frequency="monthly", units="index 1982-84=100, SA"),
    FredSeries(series_id="UNRATE", vendor_id="UNRATE", name="US unemployment rate",
               frequency="monthly", units="percent, SA"),
    FredSeries(series_id="PAYEMS", vendor_id="PAYEMS", name="US nonfarm payrolls",
               frequency="monthly", units="thousands of persons, SA"),
    FredSeries(series_id="FEDFUNDS", vendor_id="FEDFUNDS", name="Effective federal funds rate",
               frequency="monthly", units="percent", asset_class="rates_credit"),
)

DEFAULT_CONFIG = FredConfig(series=DEFAULT_SERIES)
