"""The Alpaca adapter: the real alpaca-py TradingClient against the local fake."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from macroquant.brokers.alpaca.parse import order_status
from macroquant.brokers.interface import OrderRejected, OrderRequest
from macroquant.brokers.registry import make_broker
from macroquant.errors import BrokerError, MissingCredentialError
from tests.brokers.support import alpaca_broker


def test_submit_lookup_fills_positions_and_clock(fake_alpaca):
    broker = alpaca_broker(fake_alpaca)
    report = broker.submit_order(OrderRequest("MQ-1", "MSFT", "sell", 30))
    assert (report.side, report.quantity, report.filled_quantity, report.status) == (
        "sell", 30.0, 30.0, "filled")
    assert broker.get_order("MQ-1").broker_order_id == report.broker_order_id
    assert broker.get_order("MQ-unknown") is None                      # HTTP 404 -> None
    [fill] = broker.fills(["MQ-1"])
    assert (fill.side, fill.quantity, fill.price, fill.fee) == ("sell", 30.0, 200.0, 0.0)
    assert [(p.symbol, p.quantity) for p in broker.positions()] == [("MSFT", -30.0)]  # short
    assert broker.clock_is_open() is True
    assert ("GET", "/v2/orders:by_client_order_id") in fake_alpaca.requests


def test_duplicate_client_order_id_is_refused_by_alpaca(fake_alpaca):
    broker = alpaca_broker(fake_alpaca)
    broker.submit_order(OrderRequest("MQ-1", "AAPL", "buy", 1))
    with pytest.raises(OrderRejected, match="client_order_id must be unique"):
        broker.submit_order(OrderRequest("MQ-1", "AAPL", "buy", 1))
    assert fake_alpaca.posted_orders == 1


def test_limit_order_rests_and_cancels(fake_alpaca):
    broker = alpaca_broker(fake_alpaca)
    report = broker.submit_order(OrderRequest("MQ-2", "AAPL", "buy", 5, "limit",
                                              limit_price=95.0))
    assert report.status == "submitted" and [o.client_order_id for o in
                                             broker.open_orders()] == ["MQ-2"]
    broker.cancel_order("MQ-2")
    assert broker.get_order("MQ-2").status == "cancelled"


def test_transient_and_permanent_errors_are_typed(fake_alpaca):
    broker = alpaca_broker(fake_alpaca, retry_attempts=0)
    fake_alpaca.inject("GET", "/v2/positions", "503")
    with pytest.raises(BrokerError) as caught:
        broker.positions()
    assert caught.value.transient and "HTTP 503" in str(caught.value)
    fake_alpaca.inject("GET", "/v2/positions", "drop")
    with pytest.raises(BrokerError, match="ConnectionError") as dropped:
        broker.positions()
    assert dropped.value.transient


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("new", 0, "submitted"), ("accepted", 0, "submitted"), ("partially_filled", 3,
                                                             "partially_filled"),
    ("filled", 5, "filled"), ("canceled", 0, "cancelled"), ("done_for_day", 2, "expired"),
    ("rejected", 0, "rejected"), ("pending_cancel", 2, "partially_filled")])
def test_alpaca_status_mapping(status, filled, expected):
    assert order_status(status, filled) == expected


def test_registry_refuses_live_broker_without_credentials_but_paper_works():
    clock = lambda: datetime(2024, 1, 2, tzinfo=UTC)  # noqa: E731
    with pytest.raises(MissingCredentialError, match="ALPACA_API_KEY"):
        make_broker("alpaca", {}, {}.get, clock)
    assert make_broker("paper", {}, {}.get, clock).name == "paper-oms"
