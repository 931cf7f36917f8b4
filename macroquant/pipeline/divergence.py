"""The divergence monitor's I/O (part of stage 8, reports): the shadow book of each account.

Input: ``orders`` (with ``reference_price``) and ``trades`` of every broker that sent an
order for the window's sessions (or the session before), ``market_data`` (the bars as
stored now), the trading configuration's ``broker`` section (the fill model).
Output: ``divergence`` rows per (session, broker, cause) (:mod:`macroquant.reports.divergence`);
an ERROR in ``system_logs`` when the paper account differs from the model at all (the paper
broker is the model, so any difference is a bug).
Idempotency key: ``as_of`` in the window (rows replaced).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg

from macroquant.calendars import previous_session
from macroquant.calendars import sessions as calendar_sessions
from macroquant.config.settings import TradingConfig
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.execution.costs import CostModel
from macroquant.pipeline.logs import write_system_log
from macroquant.reports.divergence import DIVERGENCE_COLUMNS, FillModel, divergence

PAPER_TOLERANCE = 1e-6   # base currency: float noise only


def fill_model(trading: TradingConfig) -> FillModel:
    """The engine's fill model from the trading configuration."""
    broker = trading.broker
    return FillModel(CostModel(broker.commission_bps, broker.slippage_bps),
                     broker.execution_price)


def account_divergence(conn: psycopg.Connection, trading: TradingConfig, start: date,
                       end: date) -> pd.DataFrame:
    """The divergence table of every account with orders for ``start``..``end``."""
    before = previous_session(start)
    orders = read_frame(conn, """SELECT client_order_id, as_of, instrument_id, side, quantity,
                                        status, reference_price, broker
                                 FROM orders WHERE as_of BETWEEN %s AND %s""", (before, end))
    if orders.empty:
        return pd.DataFrame(columns=DIVERGENCE_COLUMNS)
    fills = read_frame(conn, """SELECT t.client_order_id, t.trade_date, t.quantity, t.price,
                                       t.commission
                                FROM trades t JOIN orders o USING (client_order_id)
                                WHERE o.as_of BETWEEN %s AND %s""", (before, end))
    bars = read_frame(conn, """SELECT trade_date, instrument_id, open, close FROM market_data
                               WHERE trade_date BETWEEN %s AND %s""", (before, end))
    days = [before, *calendar_sessions(start, end)]
    for frame, column in ((orders, "reference_price"), (fills, "price"),
                          (fills, "commission"), (fills, "quantity"), (orders, "quantity")):
        frame[column] = frame[column].astype(float)
    tables = [divergence(group.drop(columns="broker"), fills, bars, days, fill_model(trading),
                         broker) for broker, group in orders.groupby("broker")]
    table = pd.concat([t for t in tables if not t.empty], ignore_index=True) \
        if any(not t.empty for t in tables) else pd.DataFrame(columns=DIVERGENCE_COLUMNS)
    return table[table["as_of"].between(start, end)]


def store_divergence(conn: psycopg.Connection, trading: TradingConfig, start: date, end: date,
                     run_id: str) -> int:
    """Replace the window's ``divergence`` rows; alert when the paper account diverges."""
    table = account_divergence(conn, trading, start, end)
    conn.execute("DELETE FROM divergence WHERE as_of BETWEEN %s AND %s", (start, end))
    written = copy_rows(conn, "divergence", table, DIVERGENCE_COLUMNS)
    paper = table[(table["broker"] == "paper") & (table["amount"].abs() > PAPER_TOLERANCE)]
    if not paper.empty:
        worst = paper.loc[paper["amount"].abs().idxmax()]
        write_system_log(conn, "ERROR", "macroquant.divergence",
                         f"the paper account differs from the engine's fill model by "
                         f"{worst['amount']:.6f} ({worst['cause']}) on {worst['as_of']}: the "
                         "paper broker should be the model; report this as a bug", run_id,
                         {"rows": len(paper), "start": str(start), "end": str(end)})
    return written
