"""Shared helpers and fixtures of the execution, broker and fault tests: a small
instrument universe, a fake Alpaca, an OMS factory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from macroquant.brokers.alpaca import AlpacaBroker, AlpacaConfig
from macroquant.execution.oms import OrderManager
from macroquant.risk.order_gate import RiskLimits
from tests.brokers.fake_alpaca import FakeAlpaca

AS_OF = date(2024, 1, 2)
PRICES = {"AAPL": 100.0, "MSFT": 200.0, "IBM": 50.0}
LIMITS = RiskLimits(max_order_notional=300_000, max_position_notional=250_000,
                    max_strategy_position_notional=250_000, max_gross_leverage=2.0,
                    max_net_leverage=1.5, price_collar=0.10, max_orders_per_day=200)
CREDS = {"ALPACA_API_KEY": "PKFAKE", "ALPACA_SECRET_KEY": "secretfake"}


class Clock:
    """A settable clock: each call returns the current time, then steps 1 second."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def seed_universe(url: str) -> None:
    """Three single stocks with one close each on AS_OF."""
    with psycopg.connect(url) as conn:
        conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                        VALUES ('test', 'market_data', 'test')""")
        for symbol, price in PRICES.items():
            iid = conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                                  source_id, vendor_symbol) VALUES (%s, %s, 'single_stock', 'USD',
                                  'test', %s) RETURNING instrument_id""",
                               (symbol, symbol, symbol)).fetchone()[0]
            conn.execute("""INSERT INTO market_data (instrument_id, trade_date, open, close,
                            volume, source_id) VALUES (%s, %s, %s, %s, 1e6, 'test')""",
                         (iid, AS_OF, price, price))


def insert_targets(url: str, rows: list[tuple[str, float, float]], as_of: date = AS_OF) -> None:
    """Risk-approved targets (symbol, price, quantity) of ``as_of``."""
    with psycopg.connect(url) as conn:
        for symbol, price, quantity in rows:
            conn.execute("""INSERT INTO portfolio_targets (as_of, instrument_id, price,
                            target_quantity, target_notional, approved_quantity, risk_status)
                            SELECT %s, instrument_id, %s, %s, %s, %s, 'approved'
                            FROM instruments WHERE symbol = %s""",
                         (as_of, price, quantity, price * quantity, quantity, symbol))


def add_instrument(url: str, symbol: str, asset_class: str, price: float) -> None:
    """One more instrument of ``asset_class`` with one close on AS_OF."""
    with psycopg.connect(url) as conn:
        iid = conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                              source_id, vendor_symbol) VALUES (%s, %s, %s, 'USD', 'test', %s)
                              RETURNING instrument_id""",
                           (symbol, symbol, asset_class, symbol)).fetchone()[0]
        conn.execute("""INSERT INTO market_data (instrument_id, trade_date, open, close, volume,
                        source_id) VALUES (%s, %s, %s, %s, 1e6, 'test')""",
                     (iid, AS_OF, price, price))


@pytest.fixture
def universe_url(db_url: str) -> str:
    seed_universe(db_url)
    return db_url


@pytest.fixture
def fake_alpaca() -> Iterator[FakeAlpaca]:
    fake = FakeAlpaca(PRICES).start()
    yield fake
    fake.stop()


def alpaca_broker(fake: FakeAlpaca, **overrides) -> AlpacaBroker:
    options = {"url_override": fake.url, "retry_wait_s": 0, "timeout_s": 2.0, **overrides}
    config = AlpacaConfig(**options)
    return AlpacaBroker(config, CREDS.get)


def make_oms(url: str, broker, clock: Clock | None = None, **kwargs) -> OrderManager:
    return OrderManager(url, broker, LIMITS, run_id="test",
                        clock=clock or Clock(datetime(2024, 1, 2, 21, 0, tzinfo=UTC)),
                        equity=1_000_000.0, **kwargs)
