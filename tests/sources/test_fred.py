"""FRED/ALFRED adapter: FRED's XML replayed through fredapi from a local HTTP server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macroquant.db.bulk import read_frame, upsert_rows
from macroquant.economics import read_as_of, read_panel_as_of
from macroquant.errors import ConfigError, MissingCredentialError, SourceError
from macroquant.sources import fred
from macroquant.sources.fred.config import FredConfig, FredSeries
from macroquant.sources.fred.parse import observations_from_vintages, with_realtime_end
from tests.local_http import LocalHttpServer

PAYLOADS = Path(__file__).parent / "payloads" / "fred"
GDP = FredSeries(series_id="GDP", vendor_id="GDP", name="US nominal GDP",
                 frequency="quarterly", units="billions of dollars, SAAR")


@pytest.fixture(autouse=True)
def _no_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A hook that reached for the user's database by mistake fails fast instead."""
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")


class FakeFred(LocalHttpServer):
    """A local FRED: ``routes[path] = (status, xml bytes)``; requests are recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                fake.requests.append((url.path, parse_qs(url.query)))
                status, body = fake.routes.get(url.path, (404, b"<error code='404' "
                                                                 b"message='Not Found'/>"))
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)
        self.root_url = f"{self.url}/fred"

    def serve(self, path: str, body: bytes | str, status: int = 200) -> None:
        self.routes[f"/fred/{path}"] = (status, body.encode() if isinstance(body, str)
                                        else body)


@pytest.fixture
def fake_fred() -> Iterator[FakeFred]:
    fake = FakeFred().start()
    yield fake
    fake.stop()


def _config(fake: FakeFred, *series: FredSeries) -> FredConfig:
    return FredConfig(series=series or (GDP,), root_url=fake.root_url, timeout_seconds=5)


def _store(conn: psycopg.Connection, observations: pd.DataFrame) -> int:
    """What the ingest stage does with the hook's rows (upsert by the vintage key)."""
    with conn.transaction():
        return upsert_rows(conn, "economic_indicators", observations,
                           ["series_id", "observation_date", "realtime_start"],
                           ["value", "vintage_kind", "source_id"])


def test_every_vintage_becomes_a_row(fake_fred: FakeFred) -> None:
    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    rows = fred.fetch_observations(config=_config(fake_fred), api_key="k-123")

    assert len(rows) == 6
    assert set(rows["vintage_kind"]) == {"vintage"} and set(rows["source_id"]) == {"fred"}
    q4 = rows.loc[rows["observation_date"] == pd.Timestamp("2013-10-01")]
    assert list(q4["realtime_start"].dt.strftime("%Y-%m-%d")) == [
        "2014-01-30", "2014-02-28", "2014-03-27"]
    assert list(q4["value"]) == [17102.5, 17080.7, 17089.6]
    path, query = fake_fred.requests[0]
    assert path == "/fred/series/observations"
    assert query["series_id"] == ["GDP"] and query["api_key"] == ["k-123"]
    assert query["realtime_start"] == ["1776-07-04"] and query["realtime_end"] == ["9999-12-31"]


def test_end_keeps_only_vintages_public_by_then(fake_fred: FakeFred) -> None:
    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    rows = fred.fetch_observations(None, date(2014, 2, 28), config=_config(fake_fred),
                                   api_key="k")
    assert list(rows["realtime_start"].dt.strftime("%m-%d")) == [
        "11-07", "12-05", "12-20", "01-30", "02-28"]


def test_realtime_end_matches_alfred(fake_fred: FakeFred, db_url: str) -> None:
    payload = (PAYLOADS / "gdp_all_releases.xml").read_bytes()
    fake_fred.serve("series/observations", payload)
    rows = fred.fetch_observations(config=_config(fake_fred), api_key="k")
    expected = sorted((e.get("date"), e.get("realtime_start"), e.get("realtime_end"))
                      for e in ET.fromstring(payload).iter("observation"))
    derived = with_realtime_end(rows)
    got = sorted(zip(derived["observation_date"].dt.strftime("%Y-%m-%d"),
                     derived["realtime_start"].dt.strftime("%Y-%m-%d"),
                     derived["realtime_end"].dt.strftime("%Y-%m-%d"), strict=True))
    assert got == expected
    # the economic_vintages view (sql/0005) derives the same realtime_end in PostgreSQL
    with psycopg.connect(db_url, autocommit=True) as conn:
        fred.register(conn, _config(fake_fred))
        _store(conn, rows)
        view = read_frame(conn, """SELECT observation_date::text, realtime_start::text,
                                          realtime_end::text FROM economic_vintages
                                    WHERE series_id = 'GDP' ORDER BY 1, 2""")
    assert [tuple(r) for r in view.itertuples(index=False)] == expected


def test_point_in_time_reads_pick_the_vintage_public_on_the_day(fake_fred: FakeFred,
                                                                db_url: str) -> None:
    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    rows = fred.fetch_observations(config=_config(fake_fred), api_key="k")
    with psycopg.connect(db_url, autocommit=True) as conn:
        fred.register(conn, _config(fake_fred))
        assert _store(conn, rows) == 6
        assert _store(conn, rows) == 0  # a re-fetch changes nothing
        q3, q4 = pd.Timestamp("2013-07-01"), pd.Timestamp("2013-10-01")
        before_q4 = read_as_of(conn, "GDP", date(2014, 1, 29))
        assert before_q4.to_dict() == {q3: 16872.3}
        assert read_as_of(conn, "GDP", date(2014, 1, 30))[q4] == 17102.5
        assert read_as_of(conn, "GDP", date(2014, 3, 26))[q4] == 17080.7
        assert read_as_of(conn, "GDP", date(2014, 3, 27))[q4] == 17089.6
        assert read_as_of(conn, "GDP", date(2013, 12, 10))[q3] == 16857.6
        panel = read_panel_as_of(conn, ["GDP"], [date(2014, 2, 27), date(2014, 3, 1)])
        assert list(panel["GDP"]) == [17102.5, 17080.7]
        series = read_frame(conn, "SELECT source_id, frequency FROM economic_series "
                                  "WHERE series_id = 'GDP'")
        assert tuple(series.iloc[0]) == ("fred", "quarterly")
        enabled = conn.execute("SELECT enabled, credentials_ref FROM data_sources "
                               "WHERE source_id = 'fred'").fetchone()
        assert enabled == (False, "FRED_API_KEY")


def test_sync_releases_stores_release_and_dates(fake_fred: FakeFred, db_url: str) -> None:
    fake_fred.serve("series/release", (PAYLOADS / "gdp_series_release.xml").read_bytes())
    fake_fred.serve("release/dates", (PAYLOADS / "release_53_dates.xml").read_bytes())
    with psycopg.connect(db_url, autocommit=True) as conn:
        written = fred.sync_releases(conn, config=_config(fake_fred), api_key="k")
        assert written == {"releases": 1, "release_dates": 6}
        release = conn.execute("SELECT release_id, name FROM economic_releases").fetchone()
        assert release == ("53", "Gross Domestic Product")
        dates = [r[0] for r in conn.execute("SELECT release_date FROM economic_release_dates "
                                            "ORDER BY 1").fetchall()]
        assert dates[0] == date(2013, 11, 7) and dates[-1] == date(2014, 3, 27)
        link = conn.execute("SELECT release_id, vendor_series_id FROM "
                            "economic_series_releases WHERE series_id = 'GDP'").fetchone()
        assert link == ("53", "GDP")
        assert fred.sync_releases(conn, config=_config(fake_fred), api_key="k") == {
            "releases": 0, "release_dates": 0}


@pytest.mark.parametrize(("status", "payload", "transient"), [
    (429, "error_429.xml", True), (500, "error_429.xml", True),
    (503, "error_429.xml", True), (400, "error_400.xml", False)])
def test_http_failures_are_typed(fake_fred: FakeFred, status: int, payload: str,
                                 transient: bool) -> None:
    fake_fred.serve("series/observations", (PAYLOADS / payload).read_bytes(), status)
    with pytest.raises(SourceError) as caught:
        fred.fetch_observations(config=_config(fake_fred), api_key="k")
    assert caught.value.transient is transient and caught.value.status == status
    assert caught.value.source_id == "fred"
    if status == 429:
        assert "Exceeded Rate Limit" in str(caught.value)
    if status == 400:
        assert "The series does not exist" in str(caught.value)


def test_unreachable_server_is_transient() -> None:
    config = FredConfig(series=(GDP,), root_url="http://127.0.0.1:9/fred", timeout_seconds=2)
    with pytest.raises(SourceError) as caught:
        fred.fetch_observations(config=config, api_key="k")
    assert caught.value.transient is True and caught.value.status is None


def test_missing_key_names_secret_and_variable(fake_fred: FakeFred, db_url: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    with pytest.raises(MissingCredentialError) as caught:
        fred.fetch_observations(config=_config(fake_fred))
    message = str(caught.value)
    assert "macroquant secrets set FRED_API_KEY" in message
    assert "environment variable FRED_API_KEY" in message
    assert fake_fred.requests == []  # nothing was sent without a key


def test_key_from_environment(fake_fred: FakeFred, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRED_API_KEY", "env-key")
    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    fred.fetch_observations(config=_config(fake_fred))
    assert fake_fred.requests[0][1]["api_key"] == ["env-key"]


def test_missing_marker_and_early_vintage() -> None:
    vintages = pd.DataFrame({
        "date": pd.to_datetime(["2020-01-01", "2020-01-01"]),
        "realtime_start": pd.to_datetime(["2020-02-01", "2020-03-01"]),
        "value": [1.5, float("nan")]})
    rows = observations_from_vintages("X", "X", vintages)
    assert list(rows["value"]) == [1.5]
    early = vintages.assign(realtime_start=pd.to_datetime(["2019-12-31", "2020-03-01"]))
    with pytest.raises(SourceError, match="dated before their observation"):
        observations_from_vintages("X", "X", early)


# ------------------------------------------------------------------ no look-ahead, FRED path
QUARTERS = [date(2020, 1, 1), date(2020, 4, 1), date(2020, 7, 1), date(2020, 10, 1)]
vintage = st.tuples(st.integers(0, 3), st.integers(20, 300),
                    st.integers(10_000, 30_000).map(lambda x: x / 10))


def _alfred_xml(rows: list[tuple[date, date, float]]) -> str:
    """ALFRED's output_type 1 XML for a set of (observation, realtime_start, value)."""
    frame = pd.DataFrame(rows, columns=["observation_date", "realtime_start", "value"])
    frame = frame.astype({"observation_date": "datetime64[ns]",
                          "realtime_start": "datetime64[ns]"})
    frame["series_id"] = "GDP"
    ended = with_realtime_end(frame)
    body = "".join(
        f'<observation realtime_start="{r.realtime_start:%Y-%m-%d}" '
        f'realtime_end="{r.realtime_end:%Y-%m-%d}" date="{r.observation_date:%Y-%m-%d}" '
        f'value="{r.value}"/>' for r in ended.itertuples())
    return f'<?xml version="1.0" encoding="utf-8" ?><observations>{body}</observations>'


def _distinct(raw: list[tuple[int, int, float]]) -> list[tuple[date, date, float]]:
    seen: dict[tuple[date, date], float] = {}
    for quarter, lag, value in raw:
        obs = QUARTERS[quarter]
        seen.setdefault((obs, obs + timedelta(days=lag)), value)
    return [(obs, rt, value) for (obs, rt), value in seen.items()]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.lists(vintage, min_size=1, max_size=8),
       added=st.lists(vintage, min_size=1, max_size=3))
def test_fred_later_vintages_never_change_earlier_reads(fake_fred: FakeFred, db_url: str,
                                                        base, added) -> None:
    base_rows = _distinct(base)
    taken = {(o, r) for o, r, _ in base_rows}
    new_rows = [row for row in _distinct(added) if row[:2] not in taken]
    if not new_rows:
        return
    first_new = min(rt for _, rt, _ in new_rows)
    days = [QUARTERS[0] + timedelta(days=d) for d in range(0, 700, 3)]
    earlier = [d for d in days if d < first_new]
    config = _config(fake_fred)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM economic_indicators WHERE series_id = 'GDP'")
        fred.register(conn, config)
        fake_fred.serve("series/observations", _alfred_xml(base_rows))
        _store(conn, fred.fetch_observations(config=config, api_key="k"))
        before = {d: read_as_of(conn, "GDP", d).to_dict() for d in earlier}
        # ALFRED's next answer: the whole history again, with the new vintages
        fake_fred.serve("series/observations", _alfred_xml(base_rows + new_rows))
        _store(conn, fred.fetch_observations(config=config, api_key="k"))
        after = {d: read_as_of(conn, "GDP", d).to_dict() for d in earlier}
        assert after == before
        visible = read_as_of(conn, "GDP", first_new)
        for obs, rt, value in new_rows:
            if rt == first_new:
                assert visible[pd.Timestamp(obs)] == value


def test_econ_series_command_lists_fred_vintages(fake_fred: FakeFred, db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from macroquant.cli import main

    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    with psycopg.connect(db_url) as conn:
        fred.register(conn)  # the default series (UNRATE, ...)
        fred.register(conn, _config(fake_fred))
        _store(conn, fred.fetch_observations(config=_config(fake_fred), api_key="k"))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    assert main(["econ", "series", "--json"]) == 0
    listed = {r["series_id"]: r for r in json.loads(capsys.readouterr().out)}
    gdp = listed["GDP"]
    assert (gdp["source_id"], gdp["vintage_kind"], gdp["rows"]) == ("fred", "vintage", 6)
    assert gdp["last_realtime_start"].startswith("2014-03-27")
    assert listed["UNRATE"]["rows"] == 0 and listed["UNRATE"]["vintage_kind"] == "-"


def test_config_as_the_fetch_controller_passes_it(fake_fred: FakeFred) -> None:
    """The fetch layer passes the data_sources row's config JSON as a dict."""
    fake_fred.serve("series/observations", (PAYLOADS / "gdp_all_releases.xml").read_bytes())
    stored = {"root_url": fake_fred.root_url,
              "series": [GDP.model_dump()]}
    rows = fred.fetch_observations(None, date(2014, 12, 31), config=stored, api_key="k")
    assert len(rows) == 6
    with pytest.raises(ConfigError, match="config.series"):
        fred.fetch_observations(config={"series": [{"series_id": "X"}]}, api_key="k")
