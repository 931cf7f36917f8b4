"""The OMS against the real alpaca-py client and a local fake of Alpaca's API."""

from __future__ import annotations

import psycopg
import pytest

from macroquant.execution.oms import OrderIntent, client_order_id
from macroquant.execution.order_states import IllegalTransitionError, check_transition
from macroquant.execution.order_store import transition
from tests.brokers.support import AS_OF, Clock, alpaca_broker, make_oms


def _rows(url, query, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_client_order_id_is_deterministic_per_strategy_symbol_date_sequence():
    assert client_order_id(AS_OF, "AAPL") == "MQ-20240102-AAPL-1"
    assert client_order_id(AS_OF, "AAPL", 2, "trend") == "MQ-20240102-trend-AAPL-2"


@pytest.mark.parametrize(("current", "target", "legal"), [
    ("new", "submitted", True), ("submitted", "partially_filled", True),
    ("partially_filled", "filled", True), ("submitted", "expired", True),
    ("filled", "cancelled", False), ("cancelled", "submitted", False),
    ("partially_filled", "rejected", False), ("submitted", "new", False)])
def test_state_machine(current, target, legal):
    if legal:
        check_transition("x", current, target)
    else:
        with pytest.raises(IllegalTransitionError, match=f"{current} -> {target}"):
            check_transition("x", current, target)


def test_market_order_is_written_gated_sent_and_filled_once(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    out = oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0), OrderIntent("MSFT", -50, 200.0)])
    assert out == {"MQ-20240102-AAPL-1": "filled", "MQ-20240102-MSFT-1": "filled"}
    # placing the same intents again (a rerun) sends nothing new
    assert oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0)]) == {}
    assert fake_alpaca.posted_orders == 2
    rows = _rows(universe_url, """SELECT client_order_id, status, filled_quantity,
                                  average_fill_price, broker_order_id IS NOT NULL FROM orders
                                  ORDER BY 1""")
    assert rows == [("MQ-20240102-AAPL-1", "filled", 100.0, 100.0, True),
                    ("MQ-20240102-MSFT-1", "filled", 50.0, 200.0, True)]
    events = _rows(universe_url, """SELECT from_status, to_status FROM order_events
                                    WHERE client_order_id = 'MQ-20240102-AAPL-1'
                                    ORDER BY event_id""")
    assert events == [(None, "new"), ("new", "submitted"), ("submitted", "filled")]
    trades = _rows(universe_url, "SELECT side, quantity, price, commission FROM trades ORDER BY 1")
    assert trades == [("buy", 100.0, 100.0, 0.0), ("sell", 50.0, 200.0, 0.0)]
    # every order passed the gate: its checks are in risk_events
    gate_rows = _rows(universe_url, """SELECT count(*) FROM risk_events
                                       WHERE subject = 'order:MQ-20240102-AAPL-1'""")
    assert gate_rows[0][0] >= 5


def test_oversized_order_is_rejected_by_the_gate_and_never_sent(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    out = oms.place(AS_OF, [OrderIntent("AAPL", 5000, 100.0)])   # 500k > 300k per order
    assert out == {"MQ-20240102-AAPL-1": "rejected"}
    assert fake_alpaca.posted_orders == 0
    reason = _rows(universe_url, "SELECT reason FROM orders")[0][0]
    assert reason.startswith("risk gate: order notional 500,000 exceeds the per-order limit "
                             "300,000")


def test_broker_rejection_is_stored_with_reason_and_alerted(universe_url, fake_alpaca):
    fake_alpaca.reject_symbols.add("IBM")
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert oms.place(AS_OF, [OrderIntent("IBM", 10, 50.0)]) == {"MQ-20240102-IBM-1": "rejected"}
    assert _rows(universe_url, "SELECT status, reason FROM orders") == [
        ("rejected", "broker: asset IBM is not tradable")]
    logs = _rows(universe_url, "SELECT level, message FROM system_logs")
    assert ("ERROR", "broker alpaca rejected order MQ-20240102-IBM-1: asset IBM is not "
            "tradable") in logs


def test_unknown_instrument_is_rejected_with_reason(universe_url, fake_alpaca):
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert oms.place(AS_OF, [OrderIntent("NOPE", 1, 10.0)]) == {"MQ-20240102-NOPE-1": "rejected"}
    assert fake_alpaca.posted_orders == 0
    assert _rows(universe_url, "SELECT message FROM system_logs")[0][0] == (
        "order MQ-20240102-NOPE-1 rejected: unknown instrument 'NOPE'")


def test_partial_fill_then_rest_and_illegal_transition(universe_url, fake_alpaca):
    fake_alpaca.fill_mode = "partial"
    oms = make_oms(universe_url, alpaca_broker(fake_alpaca))
    assert oms.place(AS_OF, [OrderIntent("AAPL", 10, 100.0)]) == {
        "MQ-20240102-AAPL-1": "partially_filled"}
    fake_alpaca.prices["AAPL"] = 110.0
    fake_alpaca.fill_rest("MQ-20240102-AAPL-1")
    assert oms.sync() == {"MQ-20240102-AAPL-1": "filled"}
    assert _rows(universe_url, "SELECT filled_quantity, average_fill_price FROM orders") == [
        (10.0, 105.0)]                                     # 5 @ 100 + 5 @ 110
    with psycopg.connect(universe_url) as conn, pytest.raises(IllegalTransitionError):
        transition(conn, "MQ-20240102-AAPL-1", "cancelled", Clock(oms.clock.now)())


def test_an_id_used_by_another_brokers_order_is_refused_not_skipped(universe_url, fake_alpaca):
    from datetime import UTC, datetime

    from macroquant.brokers.paper import PaperAccountBroker, PaperConfig
    from macroquant.execution.oms import DuplicateOrderIdError

    make_oms(universe_url, alpaca_broker(fake_alpaca)).place(AS_OF, [OrderIntent("AAPL", 1,
                                                                                 100.0)])
    paper = PaperAccountBroker(PaperConfig(), lambda: datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(DuplicateOrderIdError, match="already belongs to an order of broker "
                                                    "'alpaca'"):
        make_oms(universe_url, paper).place(AS_OF, [OrderIntent("AAPL", 1, 100.0)])
    assert paper.state["orders"] == {}
