"""``macroquant status`` shows the risk state: kill switch, instrument locks, paused
strategies (set here through the real functions, printed through the real CLI)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from macroquant.auth.strategy_controls import set_paused
from macroquant.brokers.interface import BrokerOrder, BrokerPosition
from macroquant.cli import main
from macroquant.db.connection import transaction
from macroquant.execution.oms import OrderManager
from macroquant.execution.reconcile import reconcile
from macroquant.risk import kill_switch
from macroquant.risk.order_gate import RiskLimits

HALT_AT = datetime(2012, 10, 2, 14, 30, tzinfo=UTC)
LOCK_AT = datetime(2012, 10, 3, 9, 0, tzinfo=UTC)
PAUSE_AT = datetime(2012, 10, 1, 20, 0, tzinfo=UTC)
RESUME = "macroquant risk resume --by NAME --reason TEXT"


class ShortedBroker:
    """A broker account someone shorted 5 AAPL in by hand: MacroQuant's ledger is flat."""

    name = "handbroker"

    def positions(self) -> list[BrokerPosition]:
        return [BrokerPosition(symbol="AAPL", quantity=-5.0)]

    def open_orders(self) -> list[BrokerOrder]:
        return []

    def recent_orders(self) -> list[BrokerOrder]:
        return []

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        return None


def _status(monkeypatch, capsys, url: str, tmp_path) -> list[str]:
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    assert main(["status"]) == 0
    return capsys.readouterr().out.splitlines()


def _risk_block(lines: list[str]) -> list[str]:
    """The lines after ``database:`` up to the row counts."""
    start = next(i for i, line in enumerate(lines) if line.startswith("database: "))
    end = next(i for i, line in enumerate(lines) if line.startswith("rows: "))
    return lines[start + 1:end]


def test_status_of_a_fresh_database_is_active_without_locks(db_url, monkeypatch, capsys,
                                                             tmp_path):
    assert _risk_block(_status(monkeypatch, capsys, db_url, tmp_path)) == [
        "kill switch: ACTIVE (trading allowed, never halted)",
        "instrument locks: none",
        "paused strategies: none"]


def test_status_shows_halt_locks_and_paused_strategies(loaded_db_url, monkeypatch, capsys,
                                                       tmp_path):
    with transaction(loaded_db_url) as conn:
        kill_switch.halt(conn, reason="broker outage", actor="alice", at=HALT_AT)
        set_paused(conn, "zscore_reversion", True, actor="trader", role="trader",
                   at=PAUSE_AT, reason="under review")
        set_paused(conn, "ewma_trend", False, actor="trader", role="trader", at=PAUSE_AT)
    limits = RiskLimits(max_order_notional=1e6, max_position_notional=1e6,
                        max_strategy_position_notional=1e6, max_gross_leverage=2.0,
                        max_net_leverage=1.5, price_collar=0.1, max_orders_per_day=10)
    oms = OrderManager(loaded_db_url, ShortedBroker(), limits, run_id="status-test",
                       clock=lambda: LOCK_AT, equity=1e6)
    try:
        assert reconcile(oms, lambda: LOCK_AT).status == "mismatch"
    finally:
        oms.close()

    assert _risk_block(_status(monkeypatch, capsys, loaded_db_url, tmp_path)) == [
        "kill switch: HALTED since 2012-10-02 14:30:00 UTC by alice: broker outage",
        "  no order goes out and open orders are cancelled; a person re-arms trading with: "
        + RESUME,
        "instrument locks: 1 (no orders until a person runs: macroquant orders unlock SYMBOL "
        "--by NAME --reason TEXT)",
        "  AAPL at handbroker since 2012-10-03 09:00:00 UTC: position (broker -5.0, ledger 0.0)",
        "paused strategies: 1 (their positions are held, they trade nothing of their own)",
        "  zscore_reversion by trader since 2012-10-01 20:00:00 UTC: under review"]


def test_reducing_is_shown_with_the_resume_hint(db_url, monkeypatch, capsys, tmp_path):
    with transaction(db_url) as conn:
        kill_switch.reduce(conn, reason="daily loss 3.1% > 3%",
                           actor="system:daily_loss_limit", at=HALT_AT)
    assert _risk_block(_status(monkeypatch, capsys, db_url, tmp_path))[:2] == [
        "kill switch: REDUCING since 2012-10-02 14:30:00 UTC by system:daily_loss_limit: "
        "daily loss 3.1% > 3%",
        "  only orders that reduce a position go out; a person re-arms trading with: "
        + RESUME]


def test_halted_is_styled_bold_red(db_url):
    from macroquant.status import risk_state_lines

    with transaction(db_url) as conn:
        kill_switch.halt(conn, reason="x", actor="bob", at=HALT_AT)
    with psycopg.connect(db_url) as conn:
        assert risk_state_lines(conn)[0].startswith("kill switch: [bold red]HALTED[/] since")
