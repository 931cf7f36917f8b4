"""Test helpers shared by tests/auth and tests/api: a settable clock, users, seeded rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from macroquant.auth.users import create_user

T0 = datetime(2012, 10, 2, 14, 0, tzinfo=UTC)
PASSWORDS = {"viewer": "viewer-pass-0001", "trader": "trader-pass-0002",
             "admin": "admin-pass-00003"}


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = T0
    calls: list[datetime] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def add_role_users(conn: psycopg.Connection, at: datetime = T0) -> None:
    """Users 'vera' (viewer), 'tom' (trader) and 'ada' (admin), passwords in PASSWORDS."""
    for name, role in (("vera", "viewer"), ("tom", "trader"), ("ada", "admin")):
        create_user(conn, name, PASSWORDS[role], role, actor="test", at=at)


def seed_results(conn: psycopg.Connection) -> None:
    """Two instruments, one strategy, and hand-made signals, positions, performance and
    report rows on 2012-10-01 / 2012-10-02."""
    conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                    VALUES ('test_src', 'market_data', 'test') ON CONFLICT DO NOTHING""")
    conn.execute(
        """INSERT INTO instruments (instrument_id, symbol, name, asset_class, currency,
                                    source_id, vendor_symbol)
           VALUES (901, 'SPX', 'S&P 500', 'equity_index', 'USD', 'test_src', '^GSPC'),
                  (902, 'EURUSD', 'Euro', 'fx', 'USD', 'test_src', 'EURUSD')""")
    conn.execute(
        """INSERT INTO strategies (strategy_id, name, strategy_type, config, config_hash,
                                   source_file)
           VALUES (71, 'ewma_trend', 'trend', '{}', 'abc', 'include/strategies/ewma_trend.yaml')""")
    conn.cursor().executemany(
        """INSERT INTO signals (as_of, strategy_id, instrument_id, strength, direction,
                                confidence) VALUES (%s, 71, %s, %s, %s, %s)""",
        [("2012-10-01", 901, 0.25, 1, 0.5), ("2012-10-02", 901, 0.5, 1, 0.75),
         ("2012-10-02", 902, -0.125, -1, 0.25)])
    conn.cursor().executemany(
        """INSERT INTO positions (as_of, instrument_id, quantity, average_cost, last_price,
                                  market_value, unrealized_pnl) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        [("2012-10-01", 901, 10, 1400.0, 1444.49, 14444.9, 444.9),
         ("2012-10-02", 901, 12, 1405.0, 1445.75, 17349.0, 489.0),
         ("2012-10-02", 902, -1000, 1.29, 1.2937, -1293.7, -3.7)])
    conn.cursor().executemany(
        """INSERT INTO performance (as_of, scope, equity, cash, daily_pnl, daily_return,
                                    drawdown, gross_exposure, net_exposure, commission)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        [("2012-10-01", "portfolio", 1_000_000.0, 985_555.1, 0.0, 0.0, 0.0, 14444.9,
          14444.9, 1.5),
         ("2012-10-02", "portfolio", 1_000_500.0, 984_444.7, 500.0, 0.0005, 0.0, 18642.7,
          16055.3, 2.0),
         ("2012-10-02", "strategy:ewma_trend", 1_000_100.0, None, 100.0, 0.0001, -0.001,
          100.0, 100.0, 0.0)])
    conn.execute("""INSERT INTO reports (report_date, kind, path, summary)
                    VALUES ('2012-10-02', 'daily', '/r/daily/2012-10-02.html', %s)""",
                 (Jsonb({"equity": 1000500.0, "daily_return": 0.0005}),))
