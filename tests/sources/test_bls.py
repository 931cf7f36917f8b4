"""BLS adapter: API v2 JSON answers replayed through ``requests`` with ``responses``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import requests
import responses

from macroquant.db.bulk import upsert_rows
from macroquant.economics import read_as_of
from macroquant.errors import MissingCredentialError, SourceError
from macroquant.sources import bls
from macroquant.sources.bls.config import API_URL, DEFAULT_CONFIG

PAYLOADS = Path(__file__).parent / "payloads" / "bls"


@pytest.fixture(autouse=True)
def _no_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A hook that reached for the user's database by mistake fails fast instead."""
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")


def _payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@responses.activate
def test_cpi_and_unemployment_rows_dated_by_publication_lag() -> None:
    responses.post(API_URL, json=_payload("cpi_unemployment_2023.json"))
    rows = bls.fetch_observations(date(2023, 1, 1), date(2024, 3, 1), api_key="bls-key",
                                config=DEFAULT_CONFIG)

    body = json.loads(responses.calls[0].request.body)
    assert body == {"seriesid": ["CUUR0000SA0", "LNS14000000"], "registrationkey": "bls-key",
                    "startyear": "2023", "endyear": "2024"}
    cpi = rows.loc[rows["series_id"] == "BLS_CPI_U_NSA"]
    # M13 (annual average) is skipped; months dated at their first day
    assert list(cpi["observation_date"].dt.strftime("%Y-%m-%d")) == [
        "2023-09-01", "2023-10-01", "2023-11-01", "2023-12-01"]
    assert list(cpi["value"]) == [307.789, 307.671, 307.051, 306.746]
    # December 2023 CPI: month end 2023-12-31 + 15 days
    assert cpi["realtime_start"].iloc[-1] == pd.Timestamp("2024-01-15")
    unemployment = rows.loc[rows["series_id"] == "BLS_UNEMPLOYMENT_RATE"]
    assert list(unemployment["value"]) == [3.8, 3.7, 3.7]
    assert unemployment["realtime_start"].iloc[-1] == pd.Timestamp("2024-01-10")
    assert set(rows["vintage_kind"]) == {"publication_lag"}


@responses.activate
def test_point_in_time_read_respects_the_lag(db_url: str) -> None:
    responses.post(API_URL, json=_payload("cpi_unemployment_2023.json"))
    rows = bls.fetch_observations(date(2023, 1, 1), date(2024, 3, 1), api_key="k",
                                config=DEFAULT_CONFIG)
    with psycopg.connect(db_url) as conn:
        bls.register(conn)
        upsert_rows(conn, "economic_indicators", rows,
                    ["series_id", "observation_date", "realtime_start"],
                    ["value", "vintage_kind", "source_id"])
        on_14th = read_as_of(conn, "BLS_CPI_U_NSA", date(2024, 1, 14))
        on_15th = read_as_of(conn, "BLS_CPI_U_NSA", date(2024, 1, 15))
        lag = conn.execute("SELECT publication_lag_days FROM economic_series "
                           "WHERE series_id = 'BLS_CPI_U_NSA'").fetchone()
    assert on_14th.index.max() == pd.Timestamp("2023-11-01")
    assert on_15th[pd.Timestamp("2023-12-01")] == 306.746
    assert lag == (15,)


def test_year_chunks_respect_the_20_year_limit() -> None:
    assert bls.year_chunks(date(1990, 5, 1), date(2024, 1, 1)) == [(1990, 2009), (2010, 2024)]
    assert bls.year_chunks(None, None) == [(None, None)]


@responses.activate
def test_daily_threshold_is_transient_and_invalid_key_permanent() -> None:
    responses.post(API_URL, json=_payload("threshold.json"))
    with pytest.raises(SourceError) as caught:
        bls.fetch_observations(api_key="k", config=DEFAULT_CONFIG)
    assert caught.value.transient is True and "daily threshold" in str(caught.value)
    responses.replace(responses.POST, API_URL, json=_payload("invalid_key.json"))
    with pytest.raises(SourceError) as caught:
        bls.fetch_observations(api_key="k", config=DEFAULT_CONFIG)
    assert caught.value.transient is False and "key provided by the User is invalid" in str(
        caught.value)


@pytest.mark.parametrize(("status", "transient"), [(429, True), (503, True), (404, False)])
@responses.activate
def test_http_status_classification(status: int, transient: bool) -> None:
    responses.post(API_URL, status=status, body="")
    with pytest.raises(SourceError) as caught:
        bls.fetch_observations(api_key="k", config=DEFAULT_CONFIG)
    assert (caught.value.transient, caught.value.status) == (transient, status)


@responses.activate
def test_timeout_is_transient() -> None:
    responses.post(API_URL, body=requests.Timeout("read timed out"))
    with pytest.raises(SourceError) as caught:
        bls.fetch_observations(api_key="k", config=DEFAULT_CONFIG)
    assert caught.value.transient is True


def test_missing_key(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BLS_API_KEY", raising=False)
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    with pytest.raises(MissingCredentialError, match="BLS_API_KEY"):
        bls.fetch_observations(config=DEFAULT_CONFIG)


def test_register_uses_the_rows_own_series(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        bls.register(conn)
        conn.execute("""UPDATE data_sources SET config = %s WHERE source_id = 'bls'""",
                     (json.dumps({"series": [{"series_id": "BLS_PPI", "bls_id": "WPUFD4",
                                              "name": "PPI final demand",
                                              "frequency": "monthly", "units": "index",
                                              "publication_lag_days": 14}]}),))
        bls.register(conn)
        lag = conn.execute("SELECT publication_lag_days, source_id FROM economic_series "
                           "WHERE series_id = 'BLS_PPI'").fetchone()
    assert lag == (14, "bls")
