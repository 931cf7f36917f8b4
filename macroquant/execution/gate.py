"""The risk gate as the OMS calls it: build the account's RiskState, decide, record.

Every order the OMS sends passes :func:`macroquant.risk.order_gate.check_orders` right
before it goes out; only the gate's ``ApprovedOrder`` objects can be turned into broker
requests (:func:`macroquant.execution.oms.request_from_approved`).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.risk.gate_store import record_outcomes
from macroquant.risk.kill_switch import current_state
from macroquant.risk.order_gate import (
    GateResult,
    RiskLimits,
    RiskState,
    check_orders,
)


def ledger_positions(conn: psycopg.Connection, broker: str) -> pd.DataFrame:
    """Signed position per (strategy, symbol) of ``broker`` from MacroQuant's own ledger:
    every stored fill plus every accepted manual adjustment (strategy 'adjustment')."""
    return read_frame(conn, """
        SELECT strategy, symbol, instrument_id, sum(q) AS quantity FROM (
            SELECT o.strategy, i.symbol, t.instrument_id,
                   CASE WHEN t.side = 'buy' THEN t.quantity ELSE -t.quantity END AS q
            FROM trades t JOIN orders o USING (client_order_id)
                 JOIN instruments i ON i.instrument_id = t.instrument_id
            WHERE o.broker = %s
            UNION ALL
            SELECT 'adjustment', i.symbol, a.instrument_id, a.quantity
            FROM position_adjustments a JOIN instruments i USING (instrument_id)
            WHERE a.broker = %s) x
        GROUP BY strategy, symbol, instrument_id""", (broker, broker))


def risk_state(conn: psycopg.Connection, broker: str, as_of: date, equity: float,
               extra_prices: dict[str, float] | None = None) -> RiskState:
    """The gate's view of ``broker``'s account on ``as_of``."""
    instruments = read_frame(conn, "SELECT symbol, asset_class, lot_size FROM instruments"
                             ).set_index("symbol")
    ledger = ledger_positions(conn, broker)
    positions = ledger.groupby("symbol")["quantity"].sum().astype(float)
    strategy_positions = ledger.set_index(["strategy", "symbol"])["quantity"].astype(float)
    closes = read_frame(conn, """SELECT DISTINCT ON (instrument_id) i.symbol, m.close
                                 FROM market_data m JOIN instruments i USING (instrument_id)
                                 WHERE m.trade_date <= %s AND m.close IS NOT NULL
                                 ORDER BY instrument_id, trade_date DESC""", (as_of,))
    prices = closes.set_index("symbol")["close"].astype(float)
    for symbol, price in (extra_prices or {}).items():
        if symbol not in prices.index:
            prices.loc[symbol] = price
    sent_today = conn.execute("""SELECT count(*) FROM orders WHERE broker = %s AND as_of = %s
                                 AND status <> 'new'""", (broker, as_of)).fetchone()[0]
    return RiskState(kill_switch=current_state(conn), equity=equity, instruments=instruments,
                     positions=positions, strategy_positions=strategy_positions,
                     last_prices=prices, orders_today=int(sent_today))


def decide(conn: psycopg.Connection, proposed: pd.DataFrame, state: RiskState,
           limits: RiskLimits, run_id: str, as_of: date) -> GateResult:
    """Run the gate on ``proposed`` and write every check outcome to risk_events."""
    result = check_orders(proposed, state, limits)
    record_outcomes(conn, run_id, as_of, result)
    return result
