"""Reconciliation: mismatches lock instruments until a person unlocks them."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from macroquant.errors import MacroQuantError
from macroquant.execution.oms import OrderIntent
from macroquant.execution.reconcile import locked_symbols, reconcile, unlock
from tests.brokers.support import AS_OF, Clock, alpaca_broker, make_oms

T = datetime(2024, 1, 3, 9, tzinfo=UTC)


def test_matching_books_reconcile_ok(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0)])
    result = reconcile(oms, Clock(T))
    assert (result.status, result.mismatches) == ("ok", [])


def test_position_mismatch_locks_until_a_person_unlocks(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0)])
    fake_alpaca.positions["AAPL"] = 130.0          # someone traded 30 by hand
    fake_alpaca.positions["IBM"] = -5.0            # and shorted IBM
    result = reconcile(oms, Clock(T))
    assert result.status == "mismatch"
    assert sorted((m["symbol"], m["ledger"], m["broker"]) for m in result.mismatches) == [
        ("AAPL", 100.0, 130.0), ("IBM", 0.0, -5.0)]
    assert locked_symbols(oms.conn) == {"AAPL", "IBM"}
    # a locked instrument gets no order from a live session; the lock persists across runs
    assert reconcile(oms, Clock(T)).status == "mismatch"
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT count(*) FROM instrument_locks").fetchone()[0] == 2
        with pytest.raises(MacroQuantError, match="a person"):
            unlock(conn, "AAPL", by="system:auto", reason="x", at=T)
        unlock(conn, "AAPL", by="alice", reason="manual trade confirmed", at=T,
               accept_broker_quantity=130.0)
        unlock(conn, "IBM", by="alice", reason="short confirmed", at=T,
               accept_broker_quantity=-5.0)
        conn.commit()
        assert conn.execute("""SELECT broker, quantity, adjusted_by FROM position_adjustments
                               ORDER BY quantity""").fetchall() == [
            ("alpaca", -5.0, "alice"), ("alpaca", 30.0, "alice")]
    assert reconcile(oms, Clock(T)).status == "ok"
    assert locked_symbols(oms.conn) == set()


def test_order_the_broker_does_not_know_is_a_mismatch(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    fake_alpaca.fill_mode = "none"
    oms.place(AS_OF, [OrderIntent("MSFT", 10, 200.0)])
    del fake_alpaca.orders["MQ-20240102-MSFT-1"]     # the broker lost it
    result = reconcile(oms, Clock(T))
    assert [(m["symbol"], m["kind"]) for m in result.mismatches] == [
        ("MSFT", "order_unknown_at_broker")]


def test_unknown_mq_order_at_the_broker_is_a_mismatch(universe_url, fake_alpaca):
    fake_alpaca.fill_mode = "none"
    fake_alpaca.place({"client_order_id": "MQ-20240101-IBM-1", "symbol": "IBM", "qty": "3",
                       "side": "buy", "type": "market", "time_in_force": "day"})
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    result = reconcile(oms, Clock(T))
    assert [(m["symbol"], m["kind"]) for m in result.mismatches] == [
        ("IBM", "broker_order_unknown_locally")]
