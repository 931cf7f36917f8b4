"""Fault injection against the real alpaca-py client and the local Alpaca fake.

For every fault: no duplicate order (at most one broker order per intended order), no lost
fill (every execution the broker reports is in ``trades`` exactly once), and a fresh
reconciliation finds the ledger equal to the broker's positions.
"""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from macroquant.errors import BrokerError, DatabaseUnavailableError
from macroquant.execution.oms import OrderIntent
from macroquant.execution.reconcile import ReconciliationError, reconcile
from tests.brokers.support import AS_OF, CREDS, Clock, alpaca_broker, make_oms

ROOT = Path(__file__).resolve().parents[2]
INTENTS = [OrderIntent("AAPL", 100, 100.0), OrderIntent("MSFT", -40, 200.0)]


def measure(url: str, fake, name: str, injected: int, table: list,
            intended: int = len(INTENTS)) -> dict[str, object]:
    """Count duplicate orders (broker orders beyond the ``intended`` ones) and lost fills,
    reconcile afresh, and add the table row."""
    duplicates = len(fake.orders) - intended
    broker_fills = {a["id"] for a in fake.activities}
    with psycopg.connect(url) as conn:
        stored = [r[0] for r in conn.execute("SELECT trade_id FROM trades")]
    lost = len(broker_fills - {t.removeprefix("alpaca:") for t in stored})
    repeated = len(stored) - len(set(stored))
    oms = make_oms(url, alpaca_broker(fake))
    try:
        result = reconcile(oms, Clock(datetime(2024, 1, 3, tzinfo=UTC)))
    finally:
        oms.close()
    row = {"fault": name, "times injected": injected, "duplicate orders": duplicates,
           "lost fills": lost + repeated,
           "reconciled": "yes" if result.status == "ok" else f"no: {result.mismatches}"}
    table.append(row)
    return row


def ok(row):
    return row["duplicate orders"] == 0 and row["lost fills"] == 0 and row["reconciled"] == "yes"


def _place_again(url, fake):
    """A restart: a new OMS (new connection, new client) placing the same intents."""
    oms = make_oms(url, alpaca_broker(fake))
    try:
        return oms.place(AS_OF, INTENTS)
    finally:
        oms.close()


def test_timeout_after_the_broker_accepted(universe_url, fake_alpaca, fault_table):
    fake_alpaca.inject("POST", "/v2/orders", "accept_then_drop")
    fake_alpaca.inject("POST", "/v2/orders", "accept_then_sleep")
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca, timeout_s=0.5))
    assert oms.place(AS_OF, INTENTS) == {"MQ-20240102-AAPL-1": "filled",
                                         "MQ-20240102-MSFT-1": "filled"}
    _place_again(universe_url, fake_alpaca)
    assert len(fake_alpaca.orders) == 2
    assert ok(measure(universe_url, fake_alpaca, "timeout after broker accepted (reset, "
                      "read timeout)", 2, fault_table))


def test_duplicate_fill_reports(universe_url, fake_alpaca, fault_table):
    fake_alpaca.fill_mode = "partial"
    fake_alpaca.inject("GET", "/v2/account/activities", "duplicate_fills", times=3)
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    oms.place(AS_OF, INTENTS)
    for coid in list(fake_alpaca.orders):
        fake_alpaca.fill_rest(coid)
    assert set(oms.sync().values()) == {"filled"}
    oms.sync(list(fake_alpaca.orders))        # reports again: nothing new
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT count(*), sum(quantity) FROM trades").fetchone() == (4, 140.0)
    assert ok(measure(universe_url, fake_alpaca, "duplicate fill reports", 3, fault_table))


@pytest.mark.parametrize("status", ["500", "503"])
def test_http_5xx_on_submit_is_looked_up_then_resent_once(universe_url, fake_alpaca,
                                                           fault_table, status):
    fake_alpaca.inject("POST", "/v2/orders", status, times=2)
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert set(oms.place(AS_OF, INTENTS).values()) == {"filled"}
    assert ok(measure(universe_url, fake_alpaca, f"HTTP {status} on submit", 2, fault_table))


def test_http_429_is_retried_by_the_sdk_without_duplicates(universe_url, fake_alpaca,
                                                           fault_table):
    fake_alpaca.inject("POST", "/v2/orders", "429", times=2)
    fake_alpaca.inject("GET", "/v2/orders:by_client_order_id", "429", times=2)
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert set(oms.place(AS_OF, INTENTS).values()) == {"filled"}
    assert ok(measure(universe_url, fake_alpaca, "HTTP 429 (submit and lookup)", 4,
                      fault_table))


def test_failed_broker_report_is_never_read_as_flat(universe_url, fake_alpaca, fault_table):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    oms.place(AS_OF, INTENTS)
    fake_alpaca.inject("GET", "/v2/positions", "503", times=4)   # beyond the SDK's retries
    with pytest.raises(ReconciliationError, match="unknown \\(not flat\\)"):
        reconcile(oms, Clock(datetime(2024, 1, 3, tzinfo=UTC)))
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT status FROM reconciliations").fetchall() == [("failed",)]
        assert conn.execute("SELECT count(*) FROM instrument_locks").fetchone()[0] == 0
    fake_alpaca.faults.clear()
    assert ok(measure(universe_url, fake_alpaca, "positions report fails (HTTP 503)", 4,
                      fault_table))


SCRIPT = textwrap.dedent("""
    import os, sys
    from datetime import UTC, datetime
    from macroquant.brokers.alpaca import AlpacaBroker, AlpacaConfig
    from macroquant.execution.oms import OrderIntent, OrderManager
    from tests.brokers.support import LIMITS, Clock, AS_OF
    url, fake_url, point = sys.argv[1:4]
    def hook(where, coid):
        if where == point and coid.endswith("MSFT-1"):
            os._exit(137)            # killed: no cleanup, no commit of anything later
    broker = AlpacaBroker(AlpacaConfig(url_override=fake_url, retry_wait_s=0),
                          {"ALPACA_API_KEY": "k", "ALPACA_SECRET_KEY": "s"}.get)
    oms = OrderManager(url, broker, LIMITS, run_id="crash", equity=1e6, hooks=hook,
                       clock=Clock(datetime(2024, 1, 2, 21, tzinfo=UTC)))
    oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0), OrderIntent("MSFT", -40, 200.0)])
""")


@pytest.mark.parametrize(("point", "label"), [
    ("written", "process killed between 'order written' and 'order sent'"),
    ("sent", "process killed after the broker accepted, before the DB knew")])
def test_process_killed_mid_order_then_restarted(universe_url, fake_alpaca, fault_table,
                                                 point, label):
    done = subprocess.run([sys.executable, "-c", SCRIPT, universe_url, fake_alpaca.url, point],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 137, done.stderr
    with psycopg.connect(universe_url) as conn:
        left = dict(conn.execute("SELECT client_order_id, status FROM orders"))
    assert left["MQ-20240102-MSFT-1"] == "new"          # written, never confirmed
    assert _place_again(universe_url, fake_alpaca)["MQ-20240102-MSFT-1"] == "filled"
    assert sorted(fake_alpaca.orders) == ["MQ-20240102-AAPL-1", "MQ-20240102-MSFT-1"]
    assert ok(measure(universe_url, fake_alpaca, label, 1, fault_table))


def test_restart_mid_order_with_a_partial_fill(universe_url, fake_alpaca, fault_table):
    fake_alpaca.fill_mode = "partial"
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert set(oms.place(AS_OF, INTENTS).values()) == {"partially_filled"}
    oms.close()                                            # the process goes away
    for coid in list(fake_alpaca.orders):
        fake_alpaca.fill_rest(coid)                        # fills while nobody listens
    restarted = make_oms(universe_url, alpaca_broker(fake_alpaca))
    result = reconcile(restarted, Clock(datetime(2024, 1, 3, tzinfo=UTC)))
    assert result.status == "ok" and set(result.synced_orders.values()) == {"filled"}
    restarted.close()
    assert ok(measure(universe_url, fake_alpaca, "restart mid-order (partial fill)", 1,
                      fault_table))


def test_database_connection_lost_mid_stage(universe_url, fake_alpaca, fault_table):
    def kill_backend(point, coid):
        if point == "approved" and coid.endswith("AAPL-1"):
            pid = oms.conn.info.backend_pid
            with psycopg.connect(universe_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    oms = make_oms(universe_url, alpaca_broker(fake_alpaca), hooks=kill_backend)
    with pytest.raises((psycopg.OperationalError, DatabaseUnavailableError)):
        oms.place(AS_OF, INTENTS)
    assert len(fake_alpaca.orders) == 1                    # AAPL reached the broker
    assert set(_place_again(universe_url, fake_alpaca).values()) == {"filled"}
    assert sorted(fake_alpaca.orders) == ["MQ-20240102-AAPL-1", "MQ-20240102-MSFT-1"]
    assert ok(measure(universe_url, fake_alpaca, "database connection lost mid-stage", 1,
                      fault_table))


def test_credentials_are_required_for_a_live_broker():
    from macroquant.brokers.alpaca import AlpacaBroker, AlpacaConfig
    from macroquant.errors import MissingCredentialError

    with pytest.raises(MissingCredentialError, match="the secret ALPACA_SECRET_KEY is not set"):
        AlpacaBroker(AlpacaConfig(), {"ALPACA_API_KEY": CREDS["ALPACA_API_KEY"]}.get)


def test_random_storm_of_transient_faults(universe_url, fake_alpaca, fault_table):
    """60 faults drawn at random (seeded) over submits and lookups, with the SDK's own
    retries off so every fault reaches the OMS; the stage is rerun until nothing is
    pending, as Airflow's retries would."""
    rng = random.Random(20240102)
    actions = ["500", "503", "429", "drop", "accept_then_drop"]
    targets = [("POST", "/v2/orders"), ("GET", "/v2/orders:by_client_order_id")]
    for _ in range(60):
        fake_alpaca.inject(*rng.choice(targets), rng.choice(actions))
    intents = [OrderIntent(symbol, side * 10, price, sequence=seq)
               for symbol, price, side in (("AAPL", 100.0, 1), ("MSFT", 200.0, -1),
                                           ("IBM", 50.0, 1))
               for seq in range(1, 5)]
    runs = 0
    while True:
        runs += 1
        oms = make_oms(universe_url, alpaca_broker(fake_alpaca, retry_attempts=0))
        try:
            statuses = oms.place(AS_OF, intents)
        except BrokerError:
            continue        # the stage failed loudly; the next run picks up the 'new' orders
        finally:
            oms.close()
        with psycopg.connect(universe_url) as conn:
            pending = conn.execute("SELECT count(*) FROM orders WHERE status = 'new'"
                                   ).fetchone()[0]
        if pending == 0 and len(statuses) == 0 or runs > 40:
            break
    assert runs <= 40
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall() == [
            ("filled", 12)]
    injected = 60 - len(fake_alpaca.faults)          # faults a request actually hit
    row = measure(universe_url, fake_alpaca, f"random storm: 5xx/429/resets on submit and "
                  f"lookup ({runs} runs)", injected, fault_table, intended=12)
    assert ok(row)
