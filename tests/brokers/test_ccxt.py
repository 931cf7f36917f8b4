"""The ccxt adapter: the real ccxt Coinbase client against a local fake of Coinbase
Advanced Trade, through the OMS."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from macroquant.brokers.ccxt_broker import CcxtBroker, CcxtConfig
from macroquant.brokers.interface import OrderRejected, OrderRequest
from macroquant.errors import MissingCredentialError
from macroquant.execution.oms import OrderIntent
from macroquant.execution.reconcile import reconcile
from tests.brokers.fake_coinbase import MARKETS, FakeCoinbase
from tests.brokers.support import AS_OF, Clock, make_oms

LOOKUP = {"CCXT_API_KEY": "organizations-free-key", "CCXT_SECRET": "c2VjcmV0"}.get


@pytest.fixture
def coinbase() -> Iterator[FakeCoinbase]:
    fake = FakeCoinbase({"BTC-USD": 40_000.0}).start()
    yield fake
    fake.stop()


def _broker(fake: FakeCoinbase) -> CcxtBroker:
    broker = CcxtBroker(CcxtConfig(api_url=fake.url), LOOKUP)
    broker.exchange.set_markets(MARKETS)      # pre-seeded: load_markets needs no network
    return broker


def test_missing_secret_refuses_to_start():
    with pytest.raises(MissingCredentialError, match="the secret CCXT_SECRET is not set"):
        CcxtBroker(CcxtConfig(), {"CCXT_API_KEY": "k"}.get)


def test_market_buy_fill_fee_position_and_duplicate_id(coinbase):
    broker = _broker(coinbase)
    report = broker.submit_order(OrderRequest("MQ-1", "BTC-USD", "buy", 0.5,
                                              reference_price=40_000.0))
    assert (report.status, report.filled_quantity, report.average_fill_price) == (
        "filled", 0.5, 40_000.0)
    [fill] = broker.fills(["MQ-1"])
    assert (fill.quantity, fill.price, fill.fee, fill.fee_currency) == (0.5, 40_000.0, 120.0,
                                                                        "USD")  # 0.6%
    assert [(p.symbol, p.quantity) for p in broker.positions()] == [("BTC-USD", 0.5)]
    # a resend of the same client order id returns the first order: no second order
    again = broker.submit_order(OrderRequest("MQ-1", "BTC-USD", "buy", 0.5,
                                             reference_price=40_000.0))
    assert again.broker_order_id == report.broker_order_id and coinbase.created == 1


def test_rejection_and_cancel(coinbase):
    broker = _broker(coinbase)
    with pytest.raises(OrderRejected, match="INSUFFICIENT_FUND: Insufficient balance"):
        broker.submit_order(OrderRequest("MQ-2", "BTC-USD", "buy", 100,
                                         reference_price=40_000.0))
    resting = broker.submit_order(OrderRequest("MQ-3", "BTC-USD", "buy", 0.1, "limit",
                                               limit_price=39_000.0))
    assert resting.status == "submitted" and len(broker.open_orders()) == 1
    broker.cancel_order("MQ-3")
    assert broker.get_order("MQ-3").status == "cancelled" and broker.open_orders() == []


def test_oms_on_ccxt_with_timeout_after_accept(universe_url, coinbase):
    with psycopg.connect(universe_url) as conn:
        iid = conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                              lot_size, source_id, vendor_symbol) VALUES ('BTC-USD', 'Bitcoin',
                              'crypto', 'USD', 0.0001, 'test', 'BTC/USD')
                              RETURNING instrument_id""").fetchone()[0]
        conn.execute("""INSERT INTO market_data (instrument_id, trade_date, close, source_id)
                        VALUES (%s, %s, 40000, 'test')""", (iid, AS_OF))
    coinbase.inject("POST", "/api/v3/brokerage/orders", "accept_then_drop")
    oms = make_oms(universe_url, _broker(coinbase))
    assert oms.place(AS_OF, [OrderIntent("BTC-USD", 2.0, 40_000.0)]) == {
        "MQ-20240102-BTC-USD-1": "filled"}
    assert coinbase.created == 1
    assert reconcile(oms, Clock(oms.clock.now)).status == "ok"
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("SELECT quantity, price, commission, fee_currency FROM trades"
                            ).fetchall() == [(2.0, 40_000.0, 480.0, "USD")]
