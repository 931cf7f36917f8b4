"""World Bank source: World Development Indicators through ``wbgapi`` (API v2).

WDI is annual and keeps no vintages: each row's ``realtime_start`` is the year's end plus
a documented publication lag and ``vintage_kind`` is ``'publication_lag'``. WDI's main
yearly update comes around July, so a year's figure is treated as public 182 days after
the year ends (the lag is per series and configurable). No API key is needed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SOURCE_ID = "world_bank"
API_URL = "https://api.worldbank.org/v2"

DATA_SOURCE: dict[str, object] = {
    "source_id": SOURCE_ID,
    "kind": "economic",
    "adapter": "world_bank",
    "description": "World Bank World Development Indicators (annual) through wbgapi; dated "
    "by a documented publication lag; no key",
    "credentials_ref": None,
    "rate_limit_per_minute": 60,
    "priority": 300,
    "schedule": "weekly",
    "enabled": False,
}


class WorldBankSeries(BaseModel):
    """One indicator for one economy (ISO3 code, e.g. ``USA``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series_id: str = Field(min_length=1)
    indicator: str = Field(min_length=1)
    economy: str = Field(pattern=r"^[A-Z0-9]{3}$")
    name: str
    units: str
    publication_lag_days: int = Field(default=182, ge=0)


class WorldBankConfig(BaseModel):
    """What the World Bank source fetches (``api_url`` for a replay)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    series: tuple[WorldBankSeries, ...]
    api_url: str = API_URL


DEFAULT_SERIES = (
    WorldBankSeries(series_id="WB_USA_GDP_GROWTH", indicator="NY.GDP.MKTP.KD.ZG",
                    economy="USA", name="US real GDP growth (annual %)", units="percent"),
    WorldBankSeries(series_id="WB_DEU_GDP_GROWTH", indicator="NY.GDP.MKTP.KD.ZG",
                    economy="DEU", name="Germany real GDP growth (annual %)", units="percent"),
    WorldBankSeries(series_id="WB_CHN_GDP_GROWTH", indicator="NY.GDP.MKTP.KD.ZG",
                    economy="CHN", name="China real GDP growth (annual %)", units="percent"),
    WorldBankSeries(series_id="WB_USA_INFLATION", indicator="FP.CPI.TOTL.ZG",
                    economy="USA", name="US consumer price inflation (annual %)",
                    units="percent"),
)

DEFAULT_CONFIG = WorldBankConfig(series=DEFAULT_SERIES)
