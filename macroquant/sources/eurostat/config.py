"""Eurostat source: datasets of Eurostat's SDMX 2.1 dissemination API through ``eurostat``.

The API serves the current values only (no vintages): each row's ``realtime_start`` is the
period's end plus the series' documented publication lag (``vintage_kind =
'publication_lag'``). Euro-area HICP's full release comes about 17 days after the month
(the flash estimate earlier has no detail), unemployment about 30 days after. No key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE_ID = "eurostat"

DATA_SOURCE: dict[str, object] = {
    "source_id": SOURCE_ID,
    "kind": "economic",
    "adapter": "eurostat",
    "description": "Eurostat SDMX 2.1 API through the eurostat package; dated by a "
    "documented publication lag; no key",
    "credentials_ref": None,
    "rate_limit_per_minute": 30,
    "priority": 300,
    "schedule": "daily",
    "enabled": False,
}


class EurostatSeries(BaseModel):
    """One time series of a dataset: ``dataset`` code plus one value per dimension
    (``filters``, e.g. ``{"freq": "M", "unit": "RCH_A", "coicop": "CP00", "geo": "EA20"}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    filters: dict[str, str]
    name: str
    frequency: Literal["monthly", "quarterly", "annual"]
    units: str
    publication_lag_days: int = Field(ge=0)


class EurostatConfig(BaseModel):
    """What the Eurostat source fetches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: tuple[EurostatSeries, ...]
    timeout_seconds: float = Field(default=60.0, gt=0)


DEFAULT_SERIES = (
    EurostatSeries(series_id="ESTAT_EA_HICP_YOY", dataset="prc_hicp_manr",
                   filters={"freq": "M", "unit": "RCH_A", "coicop": "CP00", "geo": "EA20"},
                   name="Euro area HICP, annual rate of change", frequency="monthly",
                   units="percent", publication_lag_days=18),
    EurostatSeries(series_id="ESTAT_EA_UNEMPLOYMENT", dataset="une_rt_m",
                   filters={"freq": "M", "s_adj": "SA", "age": "TOTAL", "unit": "PC_ACT",
                            "sex": "T", "geo": "EA20"},
                   name="Euro area unemployment rate, seasonally adjusted",
                   frequency="monthly", units="percent of labour force",
                   publication_lag_days=32),
)

DEFAULT_CONFIG = EurostatConfig(series=DEFAULT_SERIES)
