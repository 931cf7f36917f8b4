"""Drawdown control and the daily loss limit in the paper orders stage, on a hand-made
market of one instrument (AAA, lot 1) with no costs and no binding position limits.

Every number below is computed by hand from the prices in each test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml

from macroquant.config.settings import Settings
from macroquant.db.bulk import read_frame
from macroquant.pipeline import orders
from macroquant.pipeline.context import StageContext
from macroquant.risk import kill_switch
from macroquant.risk.kill_switch import KillSwitchState

INCLUDE = Path(__file__).resolve().parents[2] / "include" / "macroquant.yaml"
# Sessions (XNYS) Thu 2012-03-01 .. Fri 2012-03-09; closes at 21:00 UTC (EST).
DAYS = [date(2012, 3, d) for d in (1, 2, 5, 6, 7, 8, 9)]


def _settings(settings: Settings, tmp_path: Path, **risk: object) -> Settings:
    config = yaml.safe_load(INCLUDE.read_text())
    config["portfolio"]["min_order_notional"] = 0
    config["broker"].update(commission_bps=0.0, slippage_bps=0.0)
    config["risk"].update(max_position_fraction=10, max_gross_leverage=20,
                          max_net_leverage=20, max_order_fraction=10,
                          max_strategy_position_fraction=10, asset_class_max_gross={},
                          price_collar=0.5, **risk)
    path = tmp_path / "trading.yaml"
    path.write_text(yaml.safe_dump(config))
    return settings.model_copy(update={"config_path": path})


def _seed(url: str, closes: list[float], targets: list[float]) -> None:
    """AAA opens each session at the previous close and closes at ``closes``; the risk stage
    approved ``targets`` (shares) on each session."""
    opens = [closes[0], *closes[:-1]]
    with psycopg.connect(url) as conn:
        conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                        VALUES ('test', 'market_data', 'sample')""")
        conn.execute("""INSERT INTO instruments (instrument_id, symbol, name, asset_class,
                            currency, lot_size, source_id, vendor_symbol)
                        VALUES (1, 'AAA', 'AAA', 'equity_index', 'USD', 1, 'test', 'AAA')""")
        for day, open_, close, target in zip(DAYS, opens, closes, targets, strict=True):
            conn.execute("""INSERT INTO market_data (instrument_id, trade_date, open, close,
                                adj_close, source_id) VALUES (1, %s, %s, %s, %s, 'test')""",
                         (day, open_, close, close))
            conn.execute("""INSERT INTO portfolio_targets (as_of, instrument_id, price,
                                target_quantity, target_notional, approved_quantity,
                                risk_status) VALUES (%s, 1, %s, %s, %s, %s, 'approved')""",
                         (day, close, target, target * close, target))
            conn.execute("""INSERT INTO risk_events (as_of, check_name, subject, outcome)
                            VALUES (%s, 'max_gross_leverage', 'portfolio', 'pass')""", (day,))


def _run(settings: Settings, start: date, end: date, run_id: str = "r1") -> None:
    orders.run(StageContext(settings, start, end, run_id))


def _table(url: str, query: str) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        return read_frame(conn, query)


def _state(url: str) -> dict[str, pd.DataFrame]:
    """Every table the orders stage and the controls write (audit column dropped)."""
    queries = {
        "orders": "SELECT * FROM orders ORDER BY client_order_id",
        "trades": "SELECT * FROM trades ORDER BY trade_id",
        "positions": "SELECT * FROM positions ORDER BY as_of, instrument_id",
        "performance": "SELECT * FROM performance ORDER BY as_of, scope",
        "risk_events": "SELECT * FROM risk_events ORDER BY as_of, check_name, subject",
        "kill_switch": "SELECT * FROM kill_switch",
        "history": """SELECT event_id, previous_state, state, at, actor, reason, as_of
                      FROM kill_switch_history ORDER BY event_id""",
    }
    return {name: _table(url, query) for name, query in queries.items()}


# Drawdown scenario: reduce_at 10%, halt_at 30%, min_scale 0.25 -> slope 0.75 / 0.20 = 3.75.
#   03-01 close 100: flat, equity 1,000,000; buy 10,000 (target)
#   03-02 fill 10,000 @ 100, close 100: equity 1,000,000
#   03-05 close 85: equity 850,000, drawdown 15% -> scale 1 - 0.05 * 3.75 = 0.8125:
#         target 8,125 -> sell 1,875
#   03-06 fill 1,875 @ 85 (cash 159,375), close 85: equity 850,000, scale 0.8125, no order
#   03-07 close 60: equity 159,375 + 8,125 * 60 = 646,875, drawdown 35.3125% -> HALTED
#   03-08 close 70: equity 728,125; 03-09 close 70: 728,125 — no orders after 03-06
DRAWDOWN = {"daily_loss_limit": 0.5,
            "drawdown": {"reduce_at": 0.10, "halt_at": 0.30, "min_scale": 0.25}}
CLOSES = [100.0, 100.0, 85.0, 85.0, 60.0, 70.0, 70.0]


@pytest.fixture
def drawdown_market(settings: Settings, tmp_path: Path) -> Settings:
    _seed(settings.database_url, CLOSES, [10_000.0] * len(DAYS))
    return _settings(settings, tmp_path, **DRAWDOWN)


def test_drawdown_scales_the_orders_then_halts_trading(drawdown_market: Settings):
    url = drawdown_market.database_url
    _run(drawdown_market, DAYS[0], DAYS[-1])

    sent = _table(url, "SELECT as_of, side, quantity, status, filled_quantity FROM orders "
                       "ORDER BY as_of")
    assert sent.values.tolist() == [[date(2012, 3, 1), "buy", 10_000.0, "filled", 10_000.0],
                                    [date(2012, 3, 5), "sell", 1_875.0, "filled", 1_875.0]]
    perf = _table(url, "SELECT equity, drawdown FROM performance ORDER BY as_of")
    assert perf["equity"].tolist() == pytest.approx(
        [1e6, 1e6, 850_000, 850_000, 646_875, 728_125, 728_125], abs=1e-6)
    assert perf["drawdown"].iloc[4] == pytest.approx(-0.353125)
    held = _table(url, "SELECT as_of, quantity FROM positions ORDER BY as_of")
    assert held["quantity"].tolist() == [10_000.0, 10_000.0, 8_125.0, 8_125.0, 8_125.0,
                                         8_125.0]

    events = _table(url, """SELECT as_of, check_name, outcome, limit_value, observed_value,
                                   details->>'scale' AS scale FROM risk_events
                            WHERE subject = 'portfolio' AND check_name <> 'max_gross_leverage'
                            ORDER BY as_of""")
    assert events[["as_of", "check_name", "outcome"]].values.tolist() == [
        [date(2012, 3, 5), "drawdown_control", "scale"],
        [date(2012, 3, 6), "drawdown_control", "scale"],
        [date(2012, 3, 7), "drawdown_control", "halt"],
        [date(2012, 3, 8), "drawdown_control", "scale"],   # 27.1875% deep: scale recorded
        [date(2012, 3, 9), "drawdown_control", "scale"],
    ]
    assert events["observed_value"].tolist() == pytest.approx(
        [0.15, 0.15, 0.353125, 0.271875, 0.271875])
    assert events["limit_value"].tolist() == pytest.approx([0.10, 0.10, 0.30, 0.10, 0.10])
    assert float(events["scale"].iloc[0]) == pytest.approx(0.8125)

    with psycopg.connect(url) as conn:
        now = kill_switch.status(conn)
        rows = kill_switch.history(conn)
    assert now.state is KillSwitchState.HALTED and now.actor == "system:drawdown_control"
    assert len(rows) == 1
    assert rows[0]["previous_state"] == "ACTIVE" and rows[0]["state"] == "HALTED"
    assert rows[0]["as_of"] == date(2012, 3, 7)
    assert rows[0]["at"] == datetime(2012, 3, 7, 21, 0, tzinfo=UTC)   # the session's close
    assert "35.3%" in rows[0]["reason"] and "30.0%" in rows[0]["reason"]


def test_rerunning_a_window_that_halted_is_identical(drawdown_market: Settings):
    """The switch is HALTED "now" by the window's own 03-07: a rerun must still trade the
    days before it exactly as the first run did and must not halt a second time."""
    url = drawdown_market.database_url
    _run(drawdown_market, DAYS[0], DAYS[-1])
    first = _state(url)
    _run(drawdown_market, DAYS[0], DAYS[-1])
    second = _state(url)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    assert len(second["history"]) == 1 and len(second["orders"]) == 2


def test_daily_runs_agree_with_one_backfill(drawdown_market: Settings,
                                            pg_server_url: str, template_url: str,
                                            tmp_path: Path):
    from tests.conftest import _clone, make_settings

    _run(drawdown_market, DAYS[0], DAYS[-1], "backfill")
    clone = _clone(pg_server_url, template_url)
    other_url = next(clone)
    try:
        _seed(other_url, CLOSES, [10_000.0] * len(DAYS))
        daily = make_settings(tmp_path / "daily", other_url,
                              config_path=drawdown_market.config_path)
        for day in DAYS:
            _run(daily, day, day, "backfill")
        a, b = _state(url := drawdown_market.database_url), _state(other_url)
        assert url != other_url
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    finally:
        next(clone, None)


def test_only_a_person_resumes_and_trading_restarts_after(drawdown_market: Settings):
    url = drawdown_market.database_url
    _run(drawdown_market, DAYS[0], DAYS[-1])
    _run(drawdown_market, DAYS[-1], DAYS[-1])    # still halted: nothing on 03-09
    assert _table(url, "SELECT count(*) AS n FROM orders WHERE as_of >= '2012-03-07'"
                  )["n"].iloc[0] == 0
    with psycopg.connect(url) as conn, pytest.raises(Exception, match="only a person"):
        kill_switch.resume(conn, actor="system:drawdown_control",
                           at=datetime(2012, 3, 8, 22, tzinfo=UTC), reason="auto")
    with psycopg.connect(url) as conn:
        kill_switch.resume(conn, actor="alice", at=datetime(2012, 3, 8, 22, tzinfo=UTC),
                           reason="reviewed the drawdown")
    _run(drawdown_market, DAYS[-1], DAYS[-1])
    # 03-09: drawdown 27.1875% -> scale 1 - 0.171875 * 3.75 = 0.35546875; target 10,000
    # -> 3,554 (toward zero in whole lots); held 8,125 -> sell 4,571.
    sent = _table(url, "SELECT as_of, side, quantity, status FROM orders "
                       "WHERE as_of = '2012-03-09'")
    assert sent.values.tolist() == [[date(2012, 3, 9), "sell", 4_571.0, "submitted"]]
    with psycopg.connect(url) as conn:
        assert kill_switch.current_state(conn) is KillSwitchState.ACTIVE
        assert len(kill_switch.history(conn)) == 2


def test_a_halt_cancels_the_orders_still_open(drawdown_market: Settings):
    """A person halts after the 03-01 close and before the 03-02 open: the buy sent after
    the 03-01 close is cancelled instead of filled, and a rerun gives the same."""
    url = drawdown_market.database_url
    _run(drawdown_market, DAYS[0], DAYS[0])
    with psycopg.connect(url) as conn:
        kill_switch.halt(conn, actor="bob", reason="broker outage",
                         at=datetime(2012, 3, 2, 12, tzinfo=UTC))
    _run(drawdown_market, DAYS[1], DAYS[-1])
    first = _state(url)
    _run(drawdown_market, DAYS[1], DAYS[-1])
    assert first["orders"][["as_of", "status", "reason"]].values.tolist() == [
        [date(2012, 3, 1), "cancelled", "kill switch HALTED: open orders cancelled"]]
    assert first["trades"].empty and first["positions"].empty
    for name, frame in _state(url).items():
        pd.testing.assert_frame_equal(first[name], frame, obj=name)


# Daily loss scenario: limit 5%, drawdown thresholds 10% / 20% (not reached).
#   03-01 close 100: buy 10,000;  03-02 fill @ 100, close 100: equity 1,000,000
#   03-05 close 94: daily loss 6% > 5% -> REDUCING (drawdown 6%: scale 1). The target
#         rises to 12,000: the buy of 2,000 would enlarge |position| -> rejected
#   03-06 close 94, target 5,000: sell 5,000 reduces -> sent
LOSS_CLOSES = [100.0, 100.0, 94.0, 94.0, 94.0, 94.0, 94.0]
LOSS_TARGETS = [10_000.0, 10_000.0, 12_000.0, 5_000.0, 5_000.0, 5_000.0, 5_000.0]


def test_daily_loss_limit_sets_reducing(settings: Settings, tmp_path: Path):
    url = settings.database_url
    _seed(url, LOSS_CLOSES, LOSS_TARGETS)
    loss = _settings(settings, tmp_path, daily_loss_limit=0.05,
                     drawdown={"reduce_at": 0.10, "halt_at": 0.20, "min_scale": 0.25})
    _run(loss, DAYS[0], DAYS[-1])
    first = _state(url)
    sent = _table(url, "SELECT as_of, side, quantity, status, reason FROM orders "
                       "ORDER BY as_of")
    assert sent[["as_of", "side", "quantity", "status"]].values.tolist() == [
        [date(2012, 3, 1), "buy", 10_000.0, "filled"],
        [date(2012, 3, 5), "buy", 2_000.0, "rejected"],
        [date(2012, 3, 6), "sell", 5_000.0, "filled"],
    ]
    assert "REDUCING" in sent["reason"].iloc[1]
    events = _table(url, """SELECT as_of, check_name, outcome, limit_value, observed_value
                            FROM risk_events WHERE check_name = 'daily_loss_limit'""")
    assert events[["as_of", "outcome"]].values.tolist() == [[date(2012, 3, 5), "reduce"]]
    assert events["observed_value"].iloc[0] == pytest.approx(0.06)
    assert events["limit_value"].iloc[0] == pytest.approx(0.05)
    with psycopg.connect(url) as conn:
        now = kill_switch.status(conn)
        rows = kill_switch.history(conn)
    assert now.state is KillSwitchState.REDUCING and now.actor == "system:daily_loss_limit"
    assert [(r["state"], r["as_of"]) for r in rows] == [("REDUCING", date(2012, 3, 5))]

    _run(loss, DAYS[0], DAYS[-1])
    for name, frame in _state(url).items():
        pd.testing.assert_frame_equal(first[name], frame, obj=name)
