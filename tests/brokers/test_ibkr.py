"""The IBKR adapter against a fake of the ib_async client surface, through the OMS."""

from __future__ import annotations

import psycopg
import pytest

from macroquant.brokers.ibkr import IbkrBroker, IbkrConfig
from macroquant.brokers.interface import OrderRequest
from macroquant.errors import MissingCredentialError
from macroquant.execution.oms import OrderIntent
from macroquant.execution.reconcile import reconcile
from tests.brokers.fake_ib import FakeIB
from tests.brokers.support import AS_OF, PRICES, Clock, make_oms

LOOKUP = {"IBKR_ACCOUNT": "DU1234567"}.get


def test_missing_account_secret_refuses_to_start():
    with pytest.raises(MissingCredentialError, match="the secret IBKR_ACCOUNT"):
        IbkrBroker(IbkrConfig(), {}.get, ib=FakeIB(PRICES))


def test_order_roundtrip_fills_fees_and_positions():
    ib = FakeIB(PRICES)
    broker = IbkrBroker(IbkrConfig(), LOOKUP, ib=ib)
    report = broker.submit_order(OrderRequest("MQ-1", "AAPL", "sell", 20))
    assert (report.status, report.filled_quantity, report.average_fill_price) == (
        "filled", 20.0, 100.0)
    assert ib.session[0].order.orderRef == "MQ-1" and ib.session[0].order.account == "DU1234567"
    [fill] = broker.fills(["MQ-1"])
    assert (fill.side, fill.quantity, fill.price, fill.fee) == ("sell", 20.0, 100.0, 0.1)
    assert [(p.symbol, p.quantity) for p in broker.positions()] == [("AAPL", -20.0)]
    ib.restart()                                 # a new connection still finds the order
    assert broker.get_order("MQ-1").status == "filled" and ib.connects == 2


def test_oms_on_ibkr_rejection_restart_and_reconcile(universe_url):
    ib = FakeIB(PRICES)
    ib.reject.add("IBM")
    oms = make_oms(universe_url, IbkrBroker(IbkrConfig(), LOOKUP, ib=ib))
    out = oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0), OrderIntent("IBM", 10, 50.0)])
    assert out == {"MQ-20240102-AAPL-1": "filled", "MQ-20240102-IBM-1": "rejected"}
    ib.restart()
    assert oms.place(AS_OF, [OrderIntent("AAPL", 100, 100.0)]) == {}
    assert ib.placed == 2
    assert reconcile(oms, Clock(oms.clock.now)).status == "ok"
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT status, reason FROM orders WHERE client_order_id = "
                            "'MQ-20240102-IBM-1'").fetchone() == (
            "rejected", "broker: Order rejected - reason: insufficient margin")
        assert conn.execute("SELECT trade_id, commission FROM trades").fetchall() == [
            ("ibkr:0000e0d5.00000001.01.01", 0.5)]
