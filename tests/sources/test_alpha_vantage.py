"""Alpha Vantage adapter: Alpha Vantage's documented JSON replayed with ``responses`` through
the real ``alpha_vantage`` client (payload origins: ``payloads/alpha_vantage/README.md``)."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
import responses

from macroquant.db.connection import transaction
from macroquant.errors import MissingCredentialError, SourceError
from macroquant.sources import alpha_vantage
from macroquant.sources.fetch import (
    BarRequest,
    FetchController,
    RateLimitedError,
    RetryPolicy,
    load_source_specs,
)
from tests.fake_clock import FakeClock

PAYLOADS = Path(__file__).parent / "payloads" / "alpha_vantage"
QUERY = re.compile(r"https://www\.alphavantage\.co/query\?.*")
RATE_NOTE = {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is "
                     "5 calls per minute and 500 calls per day."}
DAILY_QUOTA = {"Information": "Thank you for using Alpha Vantage! Our standard API rate limit "
                              "is 25 requests per day."}
FILES = {"TIME_SERIES_DAILY_ADJUSTED": "time_series_daily_adjusted_IBM.json",
         "FX_DAILY": "fx_daily_EUR_USD.json", "REAL_GDP": "real_gdp_quarterly.json",
         "CPI": "cpi_monthly.json"}


class AlphaVantageReplay:
    """Answers by ``function``; ``queue`` holds (status, body) answered before the files."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.queue: list[tuple[int, str]] = []
        self.calls: list[dict[str, list[str]]] = []
        mock.add_callback(responses.GET, QUERY, callback=self.answer)

    def answer(self, request) -> tuple[int, dict, str]:
        query = parse_qs(urlparse(request.url).query)
        self.calls.append(query)
        if self.queue:
            status, body = self.queue.pop(0)
            return status, {}, body
        return 200, {}, (PAYLOADS / FILES[query["function"][0]]).read_text()


@pytest.fixture
def replay():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield AlphaVantageReplay(mock)


def test_daily_adjusted_bars(replay):
    bars = alpha_vantage.fetch_bars(date(2012, 8, 6), date(2012, 8, 10), ["IBM"],
                                    api_key="demo")
    assert replay.calls[0]["function"] == ["TIME_SERIES_DAILY_ADJUSTED"]
    assert replay.calls[0]["symbol"] == ["IBM"] and replay.calls[0]["apikey"] == ["demo"]
    assert replay.calls[0]["outputsize"] == ["compact"]
    assert list(bars["trade_date"].dt.day) == [6, 7, 8, 9, 10]  # oldest first, 3 Aug cut
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        198.76, 199.94, 198.52, 198.76)
    assert first["adj_close"] == 169.4829 and first["volume"] == 2_337_800


def test_fx_daily_bars(replay):
    bars = alpha_vantage.fetch_bars(date(2012, 8, 6), date(2012, 8, 10), ["EURUSD"],
                                    api_key="demo")
    assert replay.calls[0]["function"] == ["FX_DAILY"]
    assert (replay.calls[0]["from_symbol"], replay.calls[0]["to_symbol"]) == (["EUR"], ["USD"])
    assert bars["close"].tolist() == [1.2379, 1.2436, 1.2336, 1.2301, 1.2262]
    assert bars["volume"].isna().all()
    assert (bars["adj_close"] == bars["close"]).all()


def test_economic_indicators_dated_by_publication_lag(replay):
    observations = alpha_vantage.fetch_observations(api_key="demo").set_index(
        ["series_id", "observation_date"])
    gdp = observations.loc[("AV_REAL_GDP_Q", pd.Timestamp("2009-04-01"))]
    assert gdp["value"] == 12901.504
    assert gdp["realtime_start"] == pd.Timestamp("2009-07-30")  # 30 Jun + 30 days
    cpi = observations.loc[("AV_CPI_M", pd.Timestamp("2012-08-01"))]
    assert cpi["value"] == 230.379
    assert cpi["realtime_start"] == pd.Timestamp("2012-09-15")  # 31 Aug + 15 days
    assert ("AV_CPI_M", pd.Timestamp("2012-05-01")) not in observations.index  # "." dropped
    assert set(observations["vintage_kind"]) == {"publication_lag"}


def test_rate_limit_note_is_retried_after_a_minute(replay):
    replay.queue = [(200, json.dumps(RATE_NOTE))]
    spec = alpha_vantage_spec()
    clock = FakeClock()
    control = FetchController({spec.source_id: spec}, clock=clock, rng=random.Random(0),
                              retry=RetryPolicy(base_delay=2.0, jitter=0.0),
                              environ={"ALPHAVANTAGE_API_KEY": "demo"})
    result = control.fetch_bars("alpha_vantage", [BarRequest(date(2012, 8, 6),
                                                             date(2012, 8, 10), ("IBM",))])
    assert result.failures == [] and result.outcomes[0].attempts == 2
    assert clock.sleeps == [60.0]  # Retry-After of the note beats the 2 s backoff
    assert len(result.bars) == 5


def test_note_and_daily_quota_classification(replay):
    replay.queue = [(200, json.dumps(RATE_NOTE)), (200, json.dumps(DAILY_QUOTA)),
                    (503, "<html><body>503 Service Unavailable</body></html>"),
                    (200, json.dumps({"Error Message": "Invalid API call."}))]
    window = (date(2012, 8, 6), date(2012, 8, 10), ["IBM"])
    with pytest.raises(RateLimitedError) as note:
        alpha_vantage.fetch_bars(*window, api_key="demo")
    assert note.value.retry_after == 60.0 and note.value.transient
    with pytest.raises(SourceError) as quota:
        alpha_vantage.fetch_bars(*window, api_key="demo")
    assert quota.value.transient is False and "25 requests per day" in str(quota.value)
    with pytest.raises(SourceError) as server:
        alpha_vantage.fetch_bars(*window, api_key="demo")
    assert server.value.transient is True
    with pytest.raises(SourceError) as invalid:
        alpha_vantage.fetch_bars(*window, api_key="demo")
    assert invalid.value.transient is False and "Invalid API call" in str(invalid.value)


def test_missing_key_names_the_secret(replay):
    with pytest.raises(MissingCredentialError, match="macroquant secrets set "
                                                     "ALPHAVANTAGE_API_KEY"):
        alpha_vantage.fetch_bars(date(2012, 8, 6), date(2012, 8, 10), ["IBM"])
    assert replay.calls == []


def test_register_rows(db_url):
    with transaction(db_url) as conn:
        alpha_vantage.register(conn)
        specs = load_source_specs(conn)
        series = conn.execute("SELECT series_id, publication_lag_days FROM economic_series "
                              "ORDER BY 1").fetchall()
    assert specs["alpha_vantage"].credentials_ref == "ALPHAVANTAGE_API_KEY"
    assert specs["alpha_vantage"].rate_limit_per_minute == 5
    assert specs["alpha_vantage"].enabled is False
    assert specs["alpha_vantage_economic"].kind == "economic"
    assert series == [("AV_CPI_M", 15), ("AV_REAL_GDP_Q", 30)]


def alpha_vantage_spec():
    from macroquant.sources.alpha_vantage.config import DATA_SOURCES
    from macroquant.sources.fetch import SourceSpec

    row = {k: v for k, v in DATA_SOURCES[0].items() if k not in ("description", "schedule")}
    return SourceSpec(**row)
