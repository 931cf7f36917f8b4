"""Fetch control: token bucket, retries with backoff, fallback, degradation, credentials.

Adapters here are small fakes loaded through the controller's ``adapter_loader``; the clock
is fake, so nothing really sleeps and every wait is an exact number."""

from __future__ import annotations

import random
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from macroquant.db.connection import connect, transaction
from macroquant.errors import MissingCredentialError, SourceError
from macroquant.sources.fetch import (
    BarRequest,
    FetchController,
    RateLimitedError,
    RetryPolicy,
    SourceSpec,
    TokenBucket,
    load_source_specs,
    parse_retry_after,
    register_source,
    resolve_credential,
    source_health,
    write_outcomes,
)
from tests.fake_clock import FakeClock


def bar(symbol: str, day: str, close: float) -> dict:
    return {"symbol": symbol, "trade_date": pd.Timestamp(day), "open": close, "high": close,
            "low": close, "close": close, "adj_close": close, "volume": 100.0}


class ScriptedAdapter:
    """fetch_bars answers from a script: per symbol, a list of errors raised first."""

    def __init__(self, errors: dict[str, list[SourceError]] | None = None,
                 close: float = 10.0) -> None:
        self.errors = errors or {}
        self.close = close
        self.calls: list[tuple] = []

    def fetch_bars(self, start, end, symbols=None, *, api_key=None, config=None):
        self.calls.append((start, end, tuple(symbols or ()), api_key, config))
        for symbol in symbols or ():
            if self.errors.get(symbol):
                raise self.errors[symbol].pop(0)
        return pd.DataFrame([bar(s, "2024-01-02", self.close) for s in symbols or ()])


def controller(adapters: dict[str, ScriptedAdapter], specs: list[SourceSpec], clock: FakeClock,
               **kwargs) -> FetchController:
    return FetchController({s.source_id: s for s in specs}, clock=clock,
                           rng=random.Random(7), adapter_loader=lambda name: adapters[name],
                           **kwargs)


def spec(source_id: str, **kwargs) -> SourceSpec:
    return SourceSpec(source_id=source_id, kind="market_data", adapter=source_id, **kwargs)


def request(*symbols: str) -> BarRequest:
    return BarRequest(date(2024, 1, 2), date(2024, 1, 2), symbols)


# ---------------------------------------------------------------------------- token bucket
def test_token_bucket_spaces_calls_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(5, clock)  # 5 a minute: one every 12 s, capacity 1
    waits = [bucket.acquire() for _ in range(4)]
    assert waits == [0.0, pytest.approx(12.0), pytest.approx(12.0), pytest.approx(12.0)]
    assert clock.now == pytest.approx(36.0)
    clock.now += 30.0  # a quiet spell refills at most `capacity` tokens
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(12.0)


def test_token_bucket_burst_capacity():
    clock = FakeClock()
    bucket = TokenBucket(120, clock, capacity=3)  # 2 a second, bursts of 3
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5), pytest.approx(0.5)]


def test_rate_limit_applies_across_symbols_of_one_source():
    clock = FakeClock()
    fake = ScriptedAdapter()
    control = controller({"v": fake}, [spec("v", rate_limit_per_minute=30)], clock)
    result = control.fetch_bars("v", [request("A"), request("B"), request("C")])
    assert len(result.bars) == 3
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]
    assert [o.waited_seconds for o in result.outcomes] == [0.0, pytest.approx(2.0),
                                                           pytest.approx(2.0)]


# ---------------------------------------------------------------------------- retries
def test_backoff_doubles_with_bounded_jitter():
    policy = RetryPolicy(base_delay=2.0, max_delay=10.0, jitter=0.25)
    rng = random.Random(3)
    delays = [policy.delay(n, rng) for n in (1, 2, 3, 4)]
    for delay, nominal in zip(delays, (2.0, 4.0, 8.0, 10.0), strict=True):
        assert nominal * 0.75 <= delay <= nominal * 1.25
    assert RetryPolicy(jitter=0.0, base_delay=2.0).delay(3, rng) == 8.0


def test_429_then_success_is_retried_and_honours_retry_after():
    clock = FakeClock()
    fake = ScriptedAdapter({"A": [RateLimitedError("v", "slow down", retry_after=30.0),
                                  SourceError("v", "HTTP 502", transient=True, status=502)]})
    control = controller({"v": fake}, [spec("v")], clock,
                         retry=RetryPolicy(max_attempts=4, base_delay=1.0, jitter=0.0))
    result = control.fetch_bars("v", [request("A")])
    assert result.failures == []
    assert result.outcomes[0].attempts == 3
    assert clock.sleeps == [30.0, 2.0]  # Retry-After beats 1 s; then 1 s * 2
    assert result.bars["close"].tolist() == [10.0]


def test_permanent_error_is_not_retried():
    clock = FakeClock()
    fake = ScriptedAdapter({"A": [SourceError("v", "unknown symbol A", transient=False,
                                              status=404)]})
    control = controller({"v": fake}, [spec("v")], clock)
    result = control.fetch_bars("v", [request("A")])
    assert len(fake.calls) == 1 and clock.sleeps == []
    assert result.failures[0].error == "source 'v': unknown symbol A"
    assert result.failures[0].transient is False


def test_5xx_exhaustion_fails_one_symbol_and_the_others_continue():
    clock = FakeClock()
    errors = [SourceError("v", "HTTP 503", transient=True, status=503) for _ in range(3)]
    fake = ScriptedAdapter({"B": errors})
    control = controller({"v": fake}, [spec("v")], clock,
                         retry=RetryPolicy(max_attempts=3, base_delay=1.0, jitter=0.0))
    result = control.fetch_bars("v", [request("A"), request("B"), request("C")])
    assert sorted(result.bars["symbol"]) == ["A", "C"]
    (failure,) = result.failures
    assert failure.symbols == ("B",) and failure.attempts == 3 and failure.transient
    assert clock.sleeps == [1.0, 2.0]


def test_retry_after_header_parsing():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


# ---------------------------------------------------------------------------- fallback
def test_fallback_source_serves_what_the_primary_failed():
    clock = FakeClock()
    primary = ScriptedAdapter({"B": [SourceError("p", "HTTP 404", transient=False)]})
    backup = ScriptedAdapter(close=20.0)
    specs = [spec("p", config={"fallback_source_id": "b"}), spec("b")]
    control = controller({"p": primary, "b": backup}, specs, clock)
    result = control.fetch_bars("p", [request("A"), request("B")])
    served = result.bars.set_index("symbol")
    assert served.loc["A", "source_id"] == "p" and served.loc["A", "close"] == 10.0
    assert served.loc["B", "source_id"] == "b" and served.loc["B", "close"] == 20.0
    assert [(o.source_id, o.ok, o.fallback_for) for o in result.outcomes] == [
        ("p", True, None), ("p", False, None), ("b", True, "p")]
    assert [c[2] for c in backup.calls] == [("B",)]


# ---------------------------------------------------------------------------- credentials
def test_missing_key_names_the_secret_and_the_env_var():
    keyed = spec("av", credentials_ref="ALPHAVANTAGE_API_KEY")
    with pytest.raises(MissingCredentialError) as caught:
        resolve_credential(keyed, lambda name: None, environ={})
    assert str(caught.value) == (
        "source 'av' needs the API key named ALPHAVANTAGE_API_KEY: store it with "
        "'macroquant secrets set ALPHAVANTAGE_API_KEY' or set the environment variable "
        "ALPHAVANTAGE_API_KEY")
    assert resolve_credential(keyed, lambda name: "from-db", environ={}) == "from-db"
    assert resolve_credential(keyed, lambda name: "from-db",
                              environ={"ALPHAVANTAGE_API_KEY": "from-env"}) == "from-env"


def test_key_is_passed_to_the_hook_and_missing_key_is_a_logged_failure():
    clock = FakeClock()
    fake = ScriptedAdapter()
    keyed = spec("v", credentials_ref="V_KEY")
    ok = controller({"v": fake}, [keyed], clock, environ={"V_KEY": "k-123"})
    ok.fetch_bars("v", [request("A")])
    assert fake.calls[0][3] == "k-123"
    missing = controller({"v": fake}, [keyed], clock, environ={})
    result = missing.fetch_bars("v", [request("A")])
    assert "V_KEY" in result.failures[0].error and len(fake.calls) == 1


def test_hook_without_keywords_gets_positional_arguments_only():
    calls = []
    plain = SimpleNamespace(fetch_bars=lambda start, end, symbols=None: calls.append(symbols)
                            or pd.DataFrame([bar("X", "2024-01-02", 1.0)]))
    control = FetchController({"s": spec("s")}, clock=FakeClock(),
                              adapter_loader=lambda name: plain)
    assert len(control.fetch_bars("s", [request("X")]).bars) == 1 and calls == [["X"]]


# ---------------------------------------------------------------------------- database
def test_outcomes_are_logged_and_show_in_source_health(db_url):
    with transaction(db_url) as conn:
        register_source(conn, {"source_id": "v", "kind": "market_data", "adapter": "yahoo",
                               "rate_limit_per_minute": 30, "priority": 40,
                               "config": {"fallback_source_id": "sample"}})
        specs = load_source_specs(conn)
    assert specs["v"].rate_limit_per_minute == 30 and specs["v"].enabled is False
    assert specs["v"].fallback_source_id == "sample"
    clock = FakeClock()
    errors = [SourceError("v", "HTTP 503", transient=True, status=503) for _ in range(2)]
    control = controller({"yahoo": ScriptedAdapter({"B": errors})}, [specs["v"]], clock,
                         retry=RetryPolicy(max_attempts=2, jitter=0.0))
    result = control.fetch_bars("v", [request("A"), request("B")])
    assert write_outcomes(db_url, result.outcomes, run_id="run-1") == 1
    with connect(db_url) as conn:
        logs = conn.execute("SELECT level, message, context->>'symbols', run_id "
                            "FROM system_logs ORDER BY log_id").fetchall()
        health = source_health(conn).set_index("source_id")
    # the request that worked leaves no row (reruns stay identical); the failure does
    assert logs == [("ERROR", "source 'v' fetch_bars failed after 2 attempt(s): "
                              "source 'v': HTTP 503", '["B"]', "run-1")]
    assert health.loc["v", "last_error"] == logs[0][1]
    assert health.loc["v", "rate_limit_per_minute"] == 30
    assert health.loc["v", "fallback_source_id"] == "sample"


def test_register_keeps_the_users_settings(db_url):
    row = {"source_id": "v", "kind": "market_data", "adapter": "yahoo", "description": "one",
           "rate_limit_per_minute": 30, "config": {"incremental": True}}
    with transaction(db_url) as conn:
        register_source(conn, row)
        conn.execute("UPDATE data_sources SET enabled = true, rate_limit_per_minute = 5, "
                     "config = '{\"overlap_days\": 1}' WHERE source_id = 'v'")
        register_source(conn, {**row, "description": "two"})
        stored = conn.execute("SELECT description, enabled, rate_limit_per_minute, config "
                              "FROM data_sources WHERE source_id = 'v'").fetchone()
    assert stored == ("two", True, 5, {"overlap_days": 1})
