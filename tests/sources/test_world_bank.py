"""World Bank adapter: API v2 JSON pages replayed through wbgapi with ``responses``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import requests
import responses
from responses import matchers

from macroquant.db.bulk import upsert_rows
from macroquant.economics import read_as_of
from macroquant.errors import SourceError
from macroquant.sources import world_bank
from macroquant.sources.world_bank.config import WorldBankConfig, WorldBankSeries

PAYLOADS = Path(__file__).parent / "payloads" / "world_bank"
API = "http://wb.test/v2"
URL = f"{API}/en/country/USA/indicator/NY.GDP.MKTP.KD.ZG"
CONFIG = WorldBankConfig(api_url=API, series=(WorldBankSeries(
    series_id="WB_USA_GDP_GROWTH", indicator="NY.GDP.MKTP.KD.ZG", economy="USA",
    name="US real GDP growth", units="percent"),))


def _page(number: int) -> None:
    responses.get(URL, json=json.loads((PAYLOADS / f"usa_gdp_growth_page{number}.json")
                                       .read_text()),
                  match=[matchers.query_param_matcher(
                      {"page": str(number), "format": "json", "date": "2019:2024"},
                      strict_match=False)])


@responses.activate
def test_pages_become_yearly_rows_with_publication_lag() -> None:
    _page(1)
    _page(2)
    rows = world_bank.fetch_observations(date(2019, 1, 1), date(2024, 12, 31), config=CONFIG)
    assert len(responses.calls) == 2  # wbgapi followed the second page
    assert list(rows["observation_date"].dt.year) == [2019, 2020, 2021, 2022, 2023]  # 2024 null
    assert list(rows["value"]) == [2.3, -2.2, 5.8, 1.9355, 2.5378]
    # 2023 → 2023-12-31 + 182 days
    assert rows["realtime_start"].iloc[-1] == pd.Timestamp("2024-06-30")
    assert set(rows["vintage_kind"]) == {"publication_lag"}


@responses.activate
def test_read_as_of_before_and_after_the_lag(db_url: str) -> None:
    _page(1)
    _page(2)
    rows = world_bank.fetch_observations(date(2019, 1, 1), date(2024, 12, 31), config=CONFIG)
    with psycopg.connect(db_url) as conn:
        world_bank.register(conn, CONFIG)
        upsert_rows(conn, "economic_indicators", rows,
                    ["series_id", "observation_date", "realtime_start"],
                    ["value", "vintage_kind", "source_id"])
        before = read_as_of(conn, "WB_USA_GDP_GROWTH", date(2024, 6, 29))
        after = read_as_of(conn, "WB_USA_GDP_GROWTH", date(2024, 6, 30))
        frequency = conn.execute("SELECT frequency, publication_lag_days FROM economic_series "
                                 "WHERE series_id = 'WB_USA_GDP_GROWTH'").fetchone()
    assert before.index.max() == pd.Timestamp("2022-01-01")
    assert after[pd.Timestamp("2023-01-01")] == 2.5378
    assert frequency == ("annual", 182)


@responses.activate
def test_api_message_is_permanent_and_5xx_transient() -> None:
    responses.get(URL, json=json.loads((PAYLOADS / "error_invalid.json").read_text()))
    with pytest.raises(SourceError) as caught:
        world_bank.fetch_observations(config=CONFIG)
    assert caught.value.transient is False and "indicator was not found" in str(caught.value)
    responses.replace(responses.GET, URL, status=503, body="Service Unavailable")
    with pytest.raises(SourceError) as caught:
        world_bank.fetch_observations(config=CONFIG)
    assert (caught.value.transient, caught.value.status) == (True, 503)
    responses.replace(responses.GET, URL, body=requests.ConnectionError("reset"))
    with pytest.raises(SourceError) as caught:
        world_bank.fetch_observations(config=CONFIG)
    assert caught.value.transient is True
