"""Daily request quotas (``macroquant/sources/quota.py``): counted in PostgreSQL before each
call fetch control makes, per quota day in the source's time zone, shared by controllers.

Adapters are small fakes (as in ``test_fetch_control.py``) except where the vendor's own
daily-limit answer is replayed through the real Alpha Vantage client. The clock is fake: its
``wall_time()`` is a fixed UTC instant advanced by every sleep."""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import responses

from macroquant.db.connection import connect, transaction
from macroquant.errors import ConfigError, SourceError
from macroquant.sources import alpha_vantage
from macroquant.sources.fetch import (
    BarRequest,
    FetchController,
    RetryPolicy,
    SourceSpec,
    load_source_specs,
    register_source,
    source_health,
    write_outcomes,
)
from macroquant.sources.quota import (
    PostgresQuotaLedger,
    QuotaDay,
    QuotaExhaustedError,
    QuotaOptions,
)
from tests import fake_clock
from tests.cli_output import status_line

NY = "America/New_York"
# 2026-11-23 23:59 in New York (EST, UTC-5) is 04:59 UTC on the 24th.
LATE_EVENING_NY = datetime(2026, 11, 24, 4, 59, tzinfo=UTC)


class FakeClock(fake_clock.FakeClock):
    """Fetch control's fake clock, its wall time late on 23 November in New York."""

    def __init__(self, wall: datetime = LATE_EVENING_NY) -> None:
        super().__init__(wall)


class ScriptedAdapter:
    """fetch_bars answers from a script: per symbol, a list of errors raised first."""

    def __init__(self, errors: dict[str, list[SourceError]] | None = None,
                 close: float = 10.0) -> None:
        self.errors = errors or {}
        self.close = close
        self.calls: list[tuple[str, ...]] = []
        self.configs: list[dict] = []

    def fetch_bars(self, start, end, symbols=None, *, config=None):
        self.calls.append(tuple(symbols or ()))
        self.configs.append(config)
        for symbol in symbols or ():
            if self.errors.get(symbol):
                raise self.errors[symbol].pop(0)
        return pd.DataFrame([{"symbol": s, "trade_date": pd.Timestamp("2026-11-23"),
                              "open": self.close, "high": self.close, "low": self.close,
                              "close": self.close, "adj_close": self.close, "volume": 1.0}
                             for s in symbols or ()])


def request(*symbols: str) -> BarRequest:
    return BarRequest(date(2026, 11, 23), date(2026, 11, 23), symbols)


def register(url: str, source_id: str, **config) -> None:
    with transaction(url) as conn:
        register_source(conn, {"source_id": source_id, "kind": "market_data",
                               "adapter": source_id, "config": config})


def controller(url: str, adapters: dict[str, ScriptedAdapter], clock: FakeClock,
               **kwargs) -> FetchController:
    """A controller over the database's rows, as the ingest stage builds one."""
    with connect(url) as conn:
        specs = load_source_specs(conn)
    return FetchController(specs, clock=clock, rng=random.Random(7),
                           adapter_loader=lambda name: adapters[name], **kwargs)


def counts(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute("SELECT source_id, quota_day, requests, exhausted "
                            "FROM source_request_counts ORDER BY 1, 2").fetchall()


# ---------------------------------------------------------------------------- the quota
def test_fourth_request_of_the_day_is_not_made_and_the_fallback_serves_it(db_url):
    register(db_url, "b")
    register(db_url, "p", daily_request_limit=3, quota_timezone=NY, fallback_source_id="b")
    primary, backup = ScriptedAdapter(), ScriptedAdapter(close=20.0)
    control = controller(db_url, {"p": primary, "b": backup}, FakeClock())

    result = control.fetch_bars("p", [request("A"), request("B"), request("C"),
                                      request("D")])

    assert primary.calls == [("A",), ("B",), ("C",)]  # the 4th request was never made
    assert backup.calls == [("D",)]
    served = result.bars.set_index("symbol")["source_id"].to_dict()
    assert served == {"A": "p", "B": "p", "C": "p", "D": "b"}
    refused = result.outcomes[3]
    assert (refused.source_id, refused.ok, refused.attempts, refused.transient) == (
        "p", False, 0, False)
    assert refused.error == (
        "source 'p': daily request quota used up (3/3 requests on 2026-11-23, "
        "America/New_York): no request made; resets 2026-11-24 00:00 America/New_York")
    assert (result.outcomes[4].source_id, result.outcomes[4].fallback_for) == ("b", "p")
    assert counts(db_url) == [("p", date(2026, 11, 23), 3, False)]  # b has no quota
    # the quota keys are fetch control's: the adapter's config does not carry them
    assert "daily_request_limit" not in primary.configs[0]
    assert "quota_timezone" not in primary.configs[0]


class MultiRequestAdapter(ScriptedAdapter):
    """One fetch_bars call makes one HTTP request per symbol, and says so."""

    @staticmethod
    def quota_requests(hook_name, args, config):
        return len(args[2])


def test_a_call_that_makes_several_requests_takes_them_all_or_none(db_url):
    register(db_url, "b")
    register(db_url, "p", daily_request_limit=5, fallback_source_id="b")
    primary, backup = MultiRequestAdapter(), ScriptedAdapter(close=20.0)
    result = controller(db_url, {"p": primary, "b": backup}, FakeClock()).fetch_bars(
        "p", [request("A", "B", "C"), request("D", "E", "F"), request("G", "H")])
    # 3 requests fit, the next 3 do not (3 + 3 > 5) and go to the fallback, 2 fit again
    assert primary.calls == [("A", "B", "C"), ("G", "H")]
    assert backup.calls == [("D", "E", "F")]
    assert "(3/5 requests on 2026-11-24, UTC; this call needs 3)" in result.outcomes[1].error
    assert counts(db_url) == [("p", date(2026, 11, 24), 5, False)]


def test_alpha_vantage_counts_one_request_per_symbol_and_indicator():
    requests = alpha_vantage.quota_requests
    assert requests("fetch_observations", (), {}) == len(alpha_vantage.ECONOMIC_SERIES) > 1
    assert requests("fetch_bars", (date(2026, 1, 2), date(2026, 1, 5), ["MSFT", "SPY"]),
                    {}) == 2
    assert requests("fetch_bars", (date(2026, 1, 2), date(2026, 1, 5), None),
                    {"symbols": {"XYZ": "XYZ"}}) == len(alpha_vantage.DEFAULT_SYMBOLS) + 1


def test_the_count_is_shared_by_two_runs_on_one_database(db_url):
    register(db_url, "p", daily_request_limit=3)
    first_run, second_run = ScriptedAdapter(), ScriptedAdapter()
    first = controller(db_url, {"p": first_run}, FakeClock()).fetch_bars(
        "p", [request("A"), request("B")])
    second = controller(db_url, {"p": second_run}, FakeClock()).fetch_bars(
        "p", [request("C"), request("D")])
    assert first.failures == [] and second_run.calls == [("C",)]
    (refused,) = second.failures
    assert refused.symbols == ("D",)
    assert "3/3 requests on 2026-11-24, UTC" in refused.error  # UTC by default
    assert "resets 2026-11-25 00:00 UTC" in refused.error
    assert counts(db_url) == [("p", date(2026, 11, 24), 3, False)]


def test_the_quota_day_rolls_over_at_midnight_in_its_time_zone(db_url):
    register(db_url, "p", daily_request_limit=1, quota_timezone=NY)
    fake = ScriptedAdapter()
    clock = FakeClock(LATE_EVENING_NY)  # 23:59 on the 23rd in New York, the 24th in UTC
    control = controller(db_url, {"p": fake}, clock)
    evening = control.fetch_bars("p", [request("A"), request("B")])
    assert [o.ok for o in evening.outcomes] == [True, False]
    assert "on 2026-11-23" in evening.outcomes[1].error

    clock.wall = datetime(2026, 11, 24, 5, 1, tzinfo=UTC)  # 00:01 on the 24th in New York
    morning = control.fetch_bars("p", [request("B"), request("C")])
    assert [o.ok for o in morning.outcomes] == [True, False]
    assert "resets 2026-11-25 00:00 America/New_York" in morning.outcomes[1].error
    assert fake.calls == [("A",), ("B",)]
    assert counts(db_url) == [("p", date(2026, 11, 23), 1, False),
                              ("p", date(2026, 11, 24), 1, False)]


def test_quota_day_and_reset_across_the_dst_change():
    # 2026-11-01: New York goes back to EST at 02:00; the day starts at 04:00 UTC (EDT)
    day = QuotaDay.at("p", 25, NY, datetime(2026, 11, 1, 4, 0, tzinfo=UTC))
    assert day.day == date(2026, 11, 1) and day.resets == "2026-11-02 00:00 America/New_York"
    assert QuotaDay.at("p", 25, NY, datetime(2026, 11, 1, 3, 59, tzinfo=UTC)).day == date(
        2026, 10, 31)
    with pytest.raises(ValueError, match="no time zone"):
        QuotaDay.at("p", 25, NY, datetime(2026, 11, 1, 4, 0))


def test_retries_are_counted(db_url):
    register(db_url, "p", daily_request_limit=4)
    errors = [SourceError("p", "HTTP 503", transient=True, status=503) for _ in range(2)]
    fake = ScriptedAdapter({"A": errors})
    clock = FakeClock()
    control = controller(db_url, {"p": fake}, clock,
                         retry=RetryPolicy(max_attempts=4, base_delay=1.0, jitter=0.0))
    result = control.fetch_bars("p", [request("A"), request("B")])
    assert [o.attempts for o in result.outcomes] == [3, 1]
    assert counts(db_url)[0][2] == 4

    # a retry the quota no longer allows is not made: the quota error ends the request
    more = [SourceError("p", "HTTP 503", transient=True, status=503) for _ in range(4)]
    register(db_url, "q", daily_request_limit=2)
    flaky = ScriptedAdapter({"A": more})
    control = controller(db_url, {"q": flaky}, clock,
                         retry=RetryPolicy(max_attempts=4, base_delay=1.0, jitter=0.0))
    (outcome,) = control.fetch_bars("q", [request("A")]).outcomes
    assert len(flaky.calls) == 2 and outcome.attempts == 2
    assert "daily request quota used up (2/2 requests" in outcome.error


def test_concurrent_takes_never_pass_the_limit(db_url):
    register(db_url, "p", daily_request_limit=5)
    ledger = PostgresQuotaLedger(db_url)
    quota = QuotaDay("p", 5, "UTC", date(2026, 11, 24))
    taken: list[bool] = []

    def take() -> None:
        taken.append(ledger.take(quota, LATE_EVENING_NY).taken)

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [False] * 7 + [True] * 5
    assert counts(db_url) == [("p", date(2026, 11, 24), 5, False)]


def test_a_spec_built_in_code_counts_in_the_controllers_memory():
    spec = SourceSpec(source_id="p", kind="market_data", adapter="p",
                      config={"daily_request_limit": 2})
    fake = ScriptedAdapter()
    control = FetchController({"p": spec}, clock=FakeClock(),
                              adapter_loader=lambda name: fake)
    result = control.fetch_bars("p", [request("A"), request("B"), request("C")])
    assert [o.ok for o in result.outcomes] == [True, True, False]
    assert fake.calls == [("A",), ("B",)]


# ---------------------------------------------------------------------------- the vendor's word
DAILY_LIMIT = {"Information": "We have detected your API key as demo and our standard API "
                              "rate limit is 25 requests per day. Please subscribe to any of "
                              "the premium plans at https://www.alphavantage.co/premium/ to "
                              "instantly remove all daily rate limits."}


@pytest.fixture
def alpha_vantage_replay():
    calls: list[str] = []

    def answer(req):
        calls.append(req.url)
        return 200, {}, json.dumps(DAILY_LIMIT)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, re.compile(r"https://www\.alphavantage\.co/query.*"),
                          callback=answer)
        yield calls


def test_the_vendors_daily_limit_answer_exhausts_the_day(db_url, alpha_vantage_replay):
    with transaction(db_url) as conn:
        alpha_vantage.register(conn)  # 25 a day, America/New_York, by default
        specs = load_source_specs(conn)
    assert specs["alpha_vantage"].config["daily_request_limit"] == 25
    assert specs["alpha_vantage_economic"].config["quota_timezone"] == NY
    control = FetchController(specs, clock=FakeClock(), rng=random.Random(0),
                              environ={"ALPHAVANTAGE_API_KEY": "demo"})

    result = control.fetch_bars("alpha_vantage", [request("IBM"), request("MSFT")])

    assert len(alpha_vantage_replay) == 1  # MSFT was not asked for
    first, second = result.outcomes
    assert first.attempts == 1 and "25 requests per day" in first.error
    assert second.attempts == 0 and second.error == (
        "source 'alpha_vantage': daily request quota used up (the vendor said it is used up, "
        "1/25 requests on 2026-11-23, America/New_York): no request made; resets "
        "2026-11-24 00:00 America/New_York")
    assert counts(db_url) == [("alpha_vantage", date(2026, 11, 23), 1, True)]
    # the economic row has a count of its own (the vendor will say so again, once)
    with pytest.raises(QuotaExhaustedError, match="25 requests per day"):
        control.call("alpha_vantage_economic", "fetch_observations", None, None)
    with pytest.raises(QuotaExhaustedError, match="no request made"):
        control.call("alpha_vantage_economic", "fetch_observations", None, None)
    assert len(alpha_vantage_replay) == 2


def test_the_adapter_raises_the_daily_limit_as_quota_exhausted(alpha_vantage_replay):
    with pytest.raises(QuotaExhaustedError) as caught:
        alpha_vantage.fetch_bars(date(2012, 8, 6), date(2012, 8, 10), ["IBM"],
                                 api_key="demo")
    assert caught.value.source_id == "alpha_vantage" and caught.value.transient is False
    assert str(caught.value).startswith(
        "source 'alpha_vantage': TIME_SERIES_DAILY_ADJUSTED IBM: We have detected")


# ---------------------------------------------------------------------------- status
def test_status_shows_the_used_up_quota_and_when_it_resets(db_url, monkeypatch, capsys):
    register(db_url, "p", daily_request_limit=2, quota_timezone=NY)
    register(db_url, "q", daily_request_limit=5)
    register(db_url, "r")
    adapters = {"p": ScriptedAdapter(), "q": ScriptedAdapter(), "r": ScriptedAdapter()}
    control = controller(db_url, adapters, FakeClock())
    result = control.fetch_bars("p", [request("A"), request("B"), request("C")])
    control.fetch_bars("q", [request("A")])
    write_outcomes(db_url, result.outcomes, run_id="run-1")

    with connect(db_url) as conn:
        health = source_health(conn).set_index("source_id")
    assert health.loc["p", "daily_quota"] == (
        "2/2 used 2026-11-23, resets 2026-11-24 00:00 America/New_York")
    assert health.loc["q", "daily_quota"] == "1/5 used 2026-11-24"
    assert health.loc["r", "daily_quota"] == ""
    assert (health.loc["p", "daily_request_limit"], health.loc["p", "quota_timezone"],
            health.loc["p", "quota_requests"]) == (2, NY, 2)
    assert "daily request quota used up" in health.loc["p", "last_error"]

    out, p_line = status_line(db_url, "│ p ", monkeypatch, capsys)
    assert "daily_quota" in out
    assert "2/2 used 2026-11-23, resets 2026-11-24 00:00 America/New_York" in p_line


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(("config", "field", "says"), [
    ({"daily_request_limit": 0}, "config.daily_request_limit", "greater than or equal to 1"),
    ({"daily_request_limit": -5}, "config.daily_request_limit", "greater than or equal to 1"),
    ({"daily_request_limit": "25"}, "config.daily_request_limit", "valid integer"),
    ({"daily_request_limit": 2.5}, "config.daily_request_limit", "valid integer"),
    ({"daily_request_limit": 25, "quota_timezone": "US/Mars"}, "config.quota_timezone",
     "'US/Mars' is not an IANA time zone name"),
    ({"daily_request_limit": 25, "quota_timezone": "EST+5"}, "config.quota_timezone",
     "not an IANA time zone name"),
])
def test_a_bad_quota_config_is_an_error_naming_the_source(config, field, says):
    with pytest.raises(ConfigError) as caught:
        QuotaOptions.of("av", config)
    assert caught.value.path == "data_sources/av" and caught.value.field == field
    assert says in str(caught.value)


def test_a_bad_quota_config_fails_the_source_without_a_request(db_url):
    register(db_url, "b")
    register(db_url, "p", daily_request_limit=10, quota_timezone="Nowhere/Town",
             fallback_source_id="b")
    primary, backup = ScriptedAdapter(), ScriptedAdapter()
    result = controller(db_url, {"p": primary, "b": backup}, FakeClock()).fetch_bars(
        "p", [request("A")])
    assert primary.calls == [] and backup.calls == [("A",)]
    assert result.outcomes[0].error.startswith(
        "data_sources/p: field 'config.quota_timezone': Value error, 'Nowhere/Town' is not "
        "an IANA time zone name")
    with connect(db_url) as conn:
        health = source_health(conn).set_index("source_id")
    assert health.loc["p", "daily_quota"] == "invalid: config.quota_timezone"
    assert counts(db_url) == []
