"""Eurostat adapter: SDMX-ML structures and gzip TSV replayed through the ``eurostat``
package with ``responses``."""

from __future__ import annotations

import gzip
import re
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import responses
from responses import matchers

from macroquant.db.bulk import upsert_rows
from macroquant.economics import read_as_of
from macroquant.errors import SourceError
from macroquant.sources import eurostat as eurostat_source
from macroquant.sources.eurostat.config import EurostatConfig, EurostatSeries

PAYLOADS = Path(__file__).parent / "payloads" / "eurostat"
BASE = "https://ec.europa.eu/eurostat/api/dissemination/sdmx/2.1/"
DATA_URL = f"{BASE}data/prc_hicp_manr/M.RCH_A.CP00.EA20"
CONFIG = EurostatConfig(timeout_seconds=5, series=(EurostatSeries(
    series_id="ESTAT_EA_HICP_YOY", dataset="prc_hicp_manr",
    filters={"freq": "M", "unit": "RCH_A", "coicop": "CP00", "geo": "EA20"},
    name="Euro area HICP yoy", frequency="monthly", units="percent",
    publication_lag_days=18),))


def _structures() -> None:
    responses.get(f"{BASE}dataflow/ESTAT/prc_hicp_manr/latest",
                  body=(PAYLOADS / "prc_hicp_manr_dataflow.xml").read_bytes())
    responses.get(f"{BASE}datastructure/ESTAT/PRC_HICP_MANR/latest",
                  body=(PAYLOADS / "prc_hicp_manr_dsd.xml").read_bytes())


@responses.activate
def test_tsv_becomes_monthly_rows_with_publication_lag() -> None:
    _structures()
    responses.get(DATA_URL, body=gzip.compress((PAYLOADS / "prc_hicp_manr_ea20.tsv")
                                               .read_bytes()),
                  match=[matchers.query_param_matcher(
                      {"startPeriod": "2023-10", "format": "TSV", "compressed": "true"})])
    rows = eurostat_source.fetch_observations(date(2023, 10, 1), config=CONFIG)
    # ":" (April) has no row; "2.4 p" (provisional March) is 2.4
    assert list(rows["observation_date"].dt.strftime("%Y-%m")) == [
        "2023-10", "2023-11", "2023-12", "2024-01", "2024-02", "2024-03"]
    assert list(rows["value"]) == [2.9, 2.4, 2.9, 2.8, 2.6, 2.4]
    # February 2024 → 2024-02-29 + 18 days
    assert rows["realtime_start"].iloc[4] == pd.Timestamp("2024-03-18")
    assert set(rows["vintage_kind"]) == {"publication_lag"}


@responses.activate
def test_point_in_time_read(db_url: str) -> None:
    _structures()
    responses.get(DATA_URL, body=gzip.compress((PAYLOADS / "prc_hicp_manr_ea20.tsv")
                                               .read_bytes()))
    rows = eurostat_source.fetch_observations(date(2023, 10, 1), date(2024, 12, 31),
                                              config=CONFIG)
    with psycopg.connect(db_url) as conn:
        eurostat_source.register(conn, CONFIG)
        upsert_rows(conn, "economic_indicators", rows,
                    ["series_id", "observation_date", "realtime_start"],
                    ["value", "vintage_kind", "source_id"])
        known = read_as_of(conn, "ESTAT_EA_HICP_YOY", date(2024, 3, 17))
    assert known.index.max() == pd.Timestamp("2024-01-01")
    assert known[pd.Timestamp("2023-12-01")] == 2.9


@responses.activate
def test_unknown_dataset_is_permanent() -> None:
    # the package asks each Eurostat provider in turn; every one answers with a fault
    responses.get(re.compile(r"https://(ec|webgate\.ec)\.europa\.eu/.*/dataflow/.*"),
                  status=404, body=(PAYLOADS / "fault_404.xml").read_bytes())
    with pytest.raises(SourceError) as caught:
        eurostat_source.fetch_observations(config=CONFIG)
    assert caught.value.transient is False
    assert "dataset 'prc_hicp_manr' not found" in str(caught.value)


@responses.activate
def test_server_error_after_retries_is_transient() -> None:
    _structures()
    responses.get(DATA_URL, status=503, body=b"<html>maintenance</html>")
    with pytest.raises(SourceError) as caught:
        eurostat_source.fetch_observations(config=CONFIG)
    assert caught.value.transient is True
    assert len([c for c in responses.calls if "/data/" in c.request.url]) == 4
