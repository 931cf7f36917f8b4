"""Adoption is verified, untradable instruments are refused, a failed fills read after an
accept is 'unknown' until the next run: the real alpaca-py client against the local fake."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from macroquant.cli import main
from macroquant.config.settings import TradingConfig
from macroquant.execution.live import summary_counts, trade_session
from macroquant.execution.oms import order_conflict
from macroquant.execution.order_store import load_order
from macroquant.pipeline.runner import degraded_reasons
from tests.brokers.support import (
    AS_OF,
    Clock,
    add_instrument,
    alpaca_broker,
    insert_targets,
)

T = datetime(2024, 1, 2, 21, tzinfo=UTC)
CONFIG = TradingConfig()
OURS = "MQ-20240102-AAPL-1"


def _session(url, fake, run_id):
    return trade_session(url, alpaca_broker(fake), CONFIG, AS_OF, run_id, Clock(T))


def _one(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()


def test_foreign_order_under_our_id_is_locked_not_adopted(universe_url, fake_alpaca,
                                                         monkeypatch, capsys):
    insert_targets(universe_url, [("AAPL", 100.0, 557)])
    fake_alpaca.inject("POST", "/v2/orders", "503", times=3)   # our order stays unsent
    first = _session(universe_url, fake_alpaca, "r1")
    assert first["unsent"] == [OURS] and fake_alpaca.posted_orders == 0
    # someone else's 1-share order turns up at the broker under our id, and fills
    fake_alpaca.place({"client_order_id": OURS, "symbol": "AAPL", "qty": "1", "side": "buy",
                       "type": "market", "time_in_force": "day"})

    second = _session(universe_url, fake_alpaca, "r2")
    assert second["reconciliation"] == "mismatch" and second["locked"] == ["AAPL"]
    assert second["skipped"] == {"AAPL": "locked by reconciliation"}
    order = load_order(psycopg.connect(universe_url), OURS)
    assert (order.status, order.filled_quantity, order.quantity) == ("rejected", 0.0, 557.0)
    assert _one(universe_url, "SELECT count(*) FROM trades")[0] == 0     # nothing counted
    reason, details = _one(universe_url, """SELECT reason, details FROM instrument_locks
                                            WHERE resolved_at IS NULL""")
    assert reason == "order_differs_at_broker"
    assert (details["ours"]["quantity"], details["broker"]["quantity"]) == (557.0, 1.0)
    assert details["differs"] == ["quantity"]
    [alert] = _one(universe_url, """SELECT array_agg(message) FROM system_logs
                                    WHERE level = 'CRITICAL' AND message LIKE %s""",
                   f"order {OURS}: the broker has a different order%")
    assert "ours: buy 557 AAPL market; broker's: buy 1 AAPL market" in alert[0]
    assert fake_alpaca.posted_orders == 1      # only the foreign one: nothing resent
    assert summary_counts(second)["locked"] == 1

    # the documented resolution: a person takes the broker's share into the ledger
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", universe_url)
    assert main(["orders", "unlock", "AAPL", "--by", "ops", "--reason", "foreign order",
                 "--accept-broker-position", "1"]) == 0
    assert "AAPL: lock" in capsys.readouterr().out
    third = _session(universe_url, fake_alpaca, "r3")
    assert third["reconciliation"] == "ok" and third["locked"] == []


def test_conflict_compares_symbol_side_quantity_and_type(universe_url, fake_alpaca):
    from macroquant.brokers.interface import BrokerOrder
    from macroquant.execution.order_store import OrderRow

    row = OrderRow(OURS, AS_OF, "portfolio", 1, "AAPL", "buy", 10.0, "market", None, 100.0,
                   "alpaca", "new", 0.0, None, "")
    same = BrokerOrder(OURS, "b1", "AAPL", "buy", 10.0, 0.0, None, "submitted",
                       order_type="market")
    assert order_conflict(row, same) is None
    assert order_conflict(row, BrokerOrder(OURS, "b1", "AAPL", "sell", 10.0, 0.0, None,
                                           "submitted", order_type=None)) is not None
    other = BrokerOrder(OURS, "b1", "MSFT", "buy", 10.5, 0.0, None, "submitted",
                        order_type="limit")
    assert order_conflict(row, other)["differs"] == ["order_type", "quantity", "symbol"]


def test_unknown_mq_order_at_the_broker_is_a_mismatch_even_when_filled(universe_url,
                                                                      fake_alpaca):
    fake_alpaca.place({"client_order_id": "MQ-20231229-MSFT-1", "symbol": "MSFT", "qty": "2",
                       "side": "buy", "type": "market", "time_in_force": "day"})
    assert fake_alpaca.orders["MQ-20231229-MSFT-1"]["status"] == "filled"
    summary = _session(universe_url, fake_alpaca, "r1")
    assert summary["reconciliation"] == "mismatch" and summary["locked"] == ["MSFT"]
    kinds = _one(universe_url, """SELECT details -> 'mismatches' FROM reconciliations
                                  ORDER BY checked_at DESC LIMIT 1""")[0]
    assert {k["kind"] for k in kinds} == {"broker_order_unknown_locally", "position"}


def test_instruments_the_broker_cannot_trade_are_refused_and_the_rest_trades(universe_url,
                                                                            fake_alpaca):
    add_instrument(universe_url, "SPX", "equity_index", 4700.0)
    add_instrument(universe_url, "AUDUSD", "fx", 0.68)
    insert_targets(universe_url, [("AAPL", 100.0, 300), ("SPX", 4700.0, 10),
                                  ("AUDUSD", 0.68, 100_000)])
    summary = _session(universe_url, fake_alpaca, "r1")
    assert summary["orders"] == {"MQ-20240102-AAPL-1": "filled"}
    assert set(summary["refused"]) == {"SPX", "AUDUSD"}
    assert summary["refused"]["SPX"].startswith(
        "not tradable on alpaca: SPX is equity_index (the account trades single_stock")
    assert "AUDUSD is fx" in summary["refused"]["AUDUSD"]
    assert {o["symbol"] for o in fake_alpaca.orders.values()} == {"AAPL"}   # never sent
    assert degraded_reasons(summary_counts(summary)) == [
        "2 instrument(s) the broker cannot trade (refused before sending)"]
    # an account configured to trade FX sends it (the fake has no price: it refuses it)
    fx = trade_session(universe_url, alpaca_broker(fake_alpaca, asset_classes=[
        "single_stock", "fx"]), CONFIG, date(2024, 1, 2), "r2", Clock(T))
    assert set(fx["refused"]) == {"SPX"} and fx["orders"] == {
        "MQ-20240102-AUDUSD-1": "rejected"}


def test_fills_read_failing_after_accept_is_unknown_then_resolved(universe_url, fake_alpaca):
    insert_targets(universe_url, [("AAPL", 100.0, 300)])
    fake_alpaca.inject("GET", "/v2/account/activities", "503")
    first = _session(universe_url, fake_alpaca, "r1")
    assert first["orders"] == {OURS: "unknown"} and first["unknown"] == [OURS]
    order = load_order(psycopg.connect(universe_url), OURS)
    assert order.status == "unknown" and order.broker_order_id == fake_alpaca.orders[OURS]["id"]
    assert _one(universe_url, """SELECT status, details ->> 'client_order_id'
                                 FROM reconciliations ORDER BY checked_at DESC LIMIT 1"""
                ) == ("failed", OURS)
    assert _one(universe_url, """SELECT count(*) FROM system_logs WHERE level = 'CRITICAL'
                                 AND message LIKE %s""", f"order {OURS} (AAPL)%")[0] == 1
    assert degraded_reasons(summary_counts(first))[0].startswith("1 order(s) accepted")

    second = _session(universe_url, fake_alpaca, "r2")        # resolved by lookup
    assert second["reconciliation"] == "ok" and second["orders"] == {}
    order = load_order(psycopg.connect(universe_url), OURS)
    assert (order.status, order.filled_quantity) == ("filled", 300.0)
    assert _one(universe_url, "SELECT sum(quantity) FROM trades")[0] == 300.0
    assert fake_alpaca.posted_orders == 1
