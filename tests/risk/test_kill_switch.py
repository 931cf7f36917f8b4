"""The kill switch on real PostgreSQL: transitions, history, only a person resumes; the
gate's outcomes recorded in risk_events."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import psycopg
import pytest

from macroquant.errors import AuthorizationError, MacroQuantError
from macroquant.risk import kill_switch
from macroquant.risk.gate_store import record_outcomes
from macroquant.risk.kill_switch import KillSwitchState
from macroquant.risk.order_gate import RiskLimits, RiskState, check_orders

T1 = datetime(2012, 10, 5, 21, 0, tzinfo=UTC)
T2 = datetime(2012, 10, 8, 14, 30, tzinfo=UTC)


def test_fresh_database_is_active(db_url):
    with psycopg.connect(db_url) as conn:
        assert kill_switch.current_state(conn) is KillSwitchState.ACTIVE
        assert kill_switch.history(conn) == []


def test_halt_blocks_until_a_person_resumes(db_url):
    with psycopg.connect(db_url) as conn:
        kill_switch.halt(conn, reason="drawdown 21% beyond 20%", actor="system:drawdown_control",
                         at=T1, as_of=date(2012, 10, 5))
        # a second halt and a reduce do not lower or duplicate anything
        kill_switch.halt(conn, reason="again", actor="system:drawdown_control", at=T2)
        kill_switch.reduce(conn, reason="loss", actor="system:daily_loss", at=T2)
        assert kill_switch.current_state(conn) is KillSwitchState.HALTED
        with pytest.raises(AuthorizationError, match="only a person can resume"):
            kill_switch.resume(conn, actor="system:scheduler", at=T2, reason="auto")
        assert kill_switch.current_state(conn) is KillSwitchState.HALTED
        with pytest.raises(MacroQuantError, match="'reason' must be a non-empty text"):
            kill_switch.resume(conn, actor="alice", at=T2, reason="  ")
        resumed = kill_switch.resume(conn, actor="alice", at=T2, reason="checked the book")
        assert resumed.state is KillSwitchState.ACTIVE
        events = kill_switch.history(conn)
    assert [(e["previous_state"], e["state"], e["actor"]) for e in events] == [
        ("HALTED", "ACTIVE", "alice"), ("ACTIVE", "HALTED", "system:drawdown_control")]
    assert events[1]["at"] == T1 and events[1]["as_of"] == date(2012, 10, 5)
    assert events[0]["reason"] == "checked the book"


def test_reducing_then_halted_and_naive_time_refused(db_url):
    with psycopg.connect(db_url) as conn:
        kill_switch.reduce(conn, reason="daily loss 6%", actor="system:daily_loss", at=T1)
        assert kill_switch.current_state(conn) is KillSwitchState.REDUCING
        kill_switch.halt(conn, reason="operator", actor="bob", at=T2)
        status = kill_switch.status(conn)
        assert (status.state, status.actor, status.since) == (KillSwitchState.HALTED, "bob", T2)
        with pytest.raises(MacroQuantError, match="timezone-aware"):
            kill_switch.halt(conn, reason="x", actor="bob", at=datetime(2012, 10, 8))  # noqa: DTZ001


def test_gate_outcomes_are_recorded_in_risk_events(db_url):
    instruments = pd.DataFrame({"asset_class": ["equity_index"], "lot_size": [1.0]},
                               index=["SPX"])
    limits = RiskLimits(max_order_notional=100_000, max_position_notional=250_000,
                        max_strategy_position_notional=250_000, max_gross_leverage=2,
                        max_net_leverage=1.5, price_collar=0.1, max_orders_per_day=10)
    with psycopg.connect(db_url) as conn:
        state = RiskState(kill_switch.current_state(conn), 1e6, instruments,
                          last_prices=pd.Series({"SPX": 1000.0}))
        proposed = pd.DataFrame({"strategy": ["trend", "trend"], "symbol": ["SPX", "SPX"],
                                 "quantity": [500.0, 50.0], "price": [1000.0, 1000.0],
                                 "asset_class": ["equity_index"] * 2,
                                 "order_ref": ["MQ-20121005-SPX-1", "MQ-20121005-SPX-2"]})
        result = check_orders(proposed, state, limits)
        written = record_outcomes(conn, "run-1", date(2012, 10, 5), result)
        # recording the same decision again replaces, never duplicates
        record_outcomes(conn, "run-1", date(2012, 10, 5), result)
        rows = conn.execute("""SELECT subject, check_name, outcome, observed_value, limit_value,
                                      reason, run_id, details->>'strategy'
                               FROM risk_events WHERE outcome <> 'pass'""").fetchall()
        total = conn.execute("SELECT count(*) FROM risk_events").fetchone()[0]
    assert written == total == len(result.outcomes) == 4 + 10  # rejected after 4 checks
    assert rows == [("order:MQ-20121005-SPX-1", "max_order_notional", "reject", 500_000.0,
                     100_000.0, "order notional 500,000 exceeds the per-order limit 100,000 "
                     "(SPX +500 @ 1000)", "run-1", "trend")]
