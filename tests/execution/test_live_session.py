"""A whole orders session on a broker account: reconcile, kill switch, targets -> orders."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

from macroquant.config.settings import TradingConfig
from macroquant.execution.live import trade_session
from macroquant.risk import kill_switch
from tests.brokers.support import AS_OF, Clock, alpaca_broker, insert_targets

T = datetime(2024, 1, 2, 21, tzinfo=UTC)
CONFIG = TradingConfig()


def test_session_trades_targets_and_a_rerun_sends_nothing(universe_url, fake_alpaca):
    insert_targets(universe_url, [("AAPL", 100.0, 300), ("MSFT", 200.0, -100), ("IBM", 50.0, 10)])
    broker = alpaca_broker(fake_alpaca)
    summary = trade_session(universe_url, broker, CONFIG, AS_OF, "r1", Clock(T))
    assert summary["orders"] == {"MQ-20240102-AAPL-1": "filled", "MQ-20240102-MSFT-1": "filled"}
    assert summary["skipped"] == {"IBM": "below min_order_notional"}   # 500 < 1000
    assert fake_alpaca.positions == {"AAPL": 300.0, "MSFT": -100.0}
    again = trade_session(universe_url, broker, CONFIG, AS_OF, "r2", Clock(T))
    assert again["orders"] == {} and len(fake_alpaca.orders) == 2


def test_halted_kill_switch_cancels_open_orders_and_sends_nothing(universe_url, fake_alpaca):
    insert_targets(universe_url, [("AAPL", 100.0, 300)])
    fake_alpaca.fill_mode = "none"
    broker = alpaca_broker(fake_alpaca)
    assert trade_session(universe_url, broker, CONFIG, AS_OF, "r1", Clock(T))["orders"] == {
        "MQ-20240102-AAPL-1": "submitted"}
    with psycopg.connect(universe_url) as conn:
        kill_switch.halt(conn, reason="drawdown 21%", actor="system:drawdown", at=T)
    summary = trade_session(universe_url, broker, CONFIG, AS_OF, "r2", Clock(T))
    assert summary["halted"] and summary["cancelled"] == {"MQ-20240102-AAPL-1": "cancelled"}
    assert fake_alpaca.orders["MQ-20240102-AAPL-1"]["status"] == "canceled"


def test_locked_instrument_gets_no_order(universe_url, fake_alpaca):
    insert_targets(universe_url, [("AAPL", 100.0, 300), ("MSFT", 200.0, 50)])
    fake_alpaca.positions["AAPL"] = 7.0            # not ours: reconciliation locks AAPL
    summary = trade_session(universe_url, alpaca_broker(fake_alpaca), CONFIG, AS_OF, "r1",
                            Clock(T))
    assert summary["reconciliation"] == "mismatch"
    assert summary["skipped"] == {"AAPL": "locked by reconciliation"}
    assert summary["orders"] == {"MQ-20240102-MSFT-1": "filled"}


def test_orders_stage_dispatches_a_live_broker_to_one_oms_session(universe_url, fake_alpaca,
                                                                  tmp_path, monkeypatch):
    import pytest

    from macroquant.config.settings import BrokerConfig
    from macroquant.errors import MissingInputError
    from macroquant.pipeline import orders as stage
    from macroquant.pipeline.context import StageContext
    from tests.conftest import make_settings

    insert_targets(universe_url, [("AAPL", 100.0, 300)])
    with psycopg.connect(universe_url) as conn:
        conn.execute("""INSERT INTO risk_events (as_of, check_name, subject, outcome)
                        VALUES (%s, 'max_gross_leverage', 'portfolio', 'pass')""", (AS_OF,))
    live = CONFIG.model_copy(update={"broker": BrokerConfig.model_construct(
        name="alpaca", commission_bps=0.0, slippage_bps=0.0)})
    monkeypatch.setattr("macroquant.brokers.registry.make_broker",
                        lambda name, options, lookup, clock: alpaca_broker(fake_alpaca))
    context = StageContext(make_settings(tmp_path, universe_url), AS_OF, AS_OF, "live-1")
    context.__dict__["trading"] = live
    assert stage.run_live(context, Clock(T)) == {
        "orders": 1, "filled": 1, "rejected": 0, "skipped": 0, "resumed": 0, "unsent": 0,
        "unknown": 0, "conflicts": 0, "locked": 0, "refused": 0}
    assert fake_alpaca.positions == {"AAPL": 300.0}
    wide = StageContext(make_settings(tmp_path, universe_url), AS_OF, date(2024, 1, 3), "w")
    wide.__dict__["trading"] = live
    with pytest.raises(MissingInputError, match="one session at a time"):
        stage.run(wide)
