"""Stage 7 — orders: trade the risk-approved targets on the paper broker and account.

Input: ``portfolio_targets`` (``approved_quantity`` only — a date the risk stage has not
decided on is refused with :class:`RiskGateError`), ``risk_events``, ``market_data`` (next
open for fills, closes for marking), the state at the end of the previous session
(``positions``, ``performance``, open ``orders``), the trading configuration.
Output: ``orders`` (one per instrument and date whose target differs from the position by
at least a lot and ``min_order_notional``; deterministic ``client_order_id``; every order
passes the pre-trade gate :func:`macroquant.risk.order_gate.check_orders` right before it
is sent — a rejected order is stored ``rejected`` with the gate's reason, a reduced one with
the approved quantity — and the gate's check outcomes go to ``risk_events``), ``trades``
(fills), ``positions`` (end-of-day snapshot), ``performance`` (scope ``'portfolio'``),
``account_actions`` (splits and dividends applied to held positions, from
``corporate_actions``).
Idempotency key: sessions from ``start`` on. The window's rows are deleted and orders
created earlier but filled inside the window are reset to ``submitted`` before the replay.
A window is refused if state exists after its end (later dates depend on it).

Drawdown control and the daily loss limit (:mod:`macroquant.execution.paper.controls`):
after each close the controls give a position scale for that evening's orders and may
escalate the kill switch (recorded in ``risk_events`` and ``kill_switch_history``). The
kill switch the replay obeys is the state in effect at each session's open (fills; HALTED
cancels the open orders) and close (new orders; HALTED sends none, REDUCING lets the gate
pass only reductions), read from the switch's history — never the state "now".

For each session D: orders sent after the close of D-1 fill at D's open; positions are
marked at D's close; new orders for D's targets are sent after D's close. The orders of
the last session stay ``submitted`` until the next run sees the next open. The replay is
the core's :func:`macroquant.execution.paper.replay.replay_sessions`, which the book
backtest runs too; this stage reads the opening state and stores what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pandas as pd
import psycopg

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.errors import MissingInputError, PathDependencyError, RiskGateError
from macroquant.execution.accounting import ACTION_ENTRY_COLUMNS
from macroquant.execution.paper.control_store import (
    apply_escalations,
    delete_control_events,
    read_timeline,
)
from macroquant.execution.paper.replay import (
    HALT_CANCEL_REASON,
    ORDER_COLUMNS,
    PERFORMANCE_COLUMNS,
    POSITION_COLUMNS,
    AccountState,
    replay_sessions,
    settle_orders,
)
from macroquant.execution.paper.simulator import FILL_COLUMNS
from macroquant.pipeline.context import StageContext
from macroquant.risk.gate_store import record_outcomes


def _reset_window(conn: psycopg.Connection, start: date, end: date) -> None:
    later = conn.execute("""SELECT max(as_of) FROM performance
                            WHERE scope = 'portfolio' AND as_of > %s""", (end,)).fetchone()[0]
    if later is not None:
        raise PathDependencyError(
            f"orders: the paper account already has state up to {later}, after this window's "
            f"end {end}; positions are path-dependent, so rerun from {start} through {later}.")
    # Only the paper account's rows: live brokers' orders are never replayed.
    conn.execute("""DELETE FROM risk_events WHERE as_of >= %s AND subject IN
                        (SELECT 'order:' || client_order_id FROM orders
                         WHERE broker = 'paper' AND as_of >= %s)""", (start, start))
    conn.execute("""DELETE FROM trades WHERE trade_date >= %s AND client_order_id IN
                        (SELECT client_order_id FROM orders WHERE broker = 'paper')""", (start,))
    conn.execute("DELETE FROM orders WHERE as_of >= %s AND broker = 'paper'", (start,))
    conn.execute("""UPDATE orders SET status = 'submitted', status_date = as_of,
                           filled_quantity = 0, average_fill_price = NULL
                    WHERE as_of < %s AND status_date >= %s AND broker = 'paper'
                      AND status IN ('filled', 'expired')""", (start, start))
    conn.execute("""UPDATE orders SET status = 'submitted', status_date = as_of, reason = ''
                    WHERE as_of < %s AND status_date >= %s AND broker = 'paper'
                      AND status = 'cancelled' AND reason = %s""",
                 (start, start, HALT_CANCEL_REASON))
    delete_control_events(conn, start)
    conn.execute("DELETE FROM positions WHERE as_of >= %s", (start,))
    conn.execute("DELETE FROM account_actions WHERE as_of >= %s", (start,))
    conn.execute("DELETE FROM performance WHERE scope = 'portfolio' AND as_of >= %s", (start,))


def _check_risk_gate(conn: psycopg.Connection, context: StageContext) -> None:
    decided = {row[0] for row in conn.execute(
        """SELECT as_of FROM risk_events WHERE check_name = 'max_gross_leverage'
           AND as_of BETWEEN %s AND %s""", (context.start, context.end))}
    undecided_rows = conn.execute(
        """SELECT count(*) FROM portfolio_targets WHERE as_of BETWEEN %s AND %s
           AND (risk_status IS NULL OR approved_quantity IS NULL)""",
        (context.start, context.end)).fetchone()[0]
    missing = [d for d in context.sessions if d not in decided]
    if missing or undecided_rows:
        raise RiskGateError(
            f"orders: the risk stage has not decided on {len(missing)} session(s) "
            f"({', '.join(map(str, missing[:5]))}) and {undecided_rows} target row(s) in "
            f"{context.start}..{context.end}; no order is created without a risk decision.")


def read_instruments(conn: psycopg.Connection) -> pd.DataFrame:
    """``symbol, lot_size, asset_class`` indexed by instrument_id."""
    return read_frame(conn, """SELECT instrument_id, symbol, lot_size, asset_class
                               FROM instruments""").set_index("instrument_id")


def read_session_bars(conn: psycopg.Connection, start: date, end: date) -> pd.DataFrame:
    """Raw ``open, close`` of every bar from ``start`` to ``end`` (fills and marks)."""
    return read_frame(conn, """SELECT trade_date, instrument_id, open, close FROM market_data
                               WHERE trade_date BETWEEN %s AND %s""", (start, end))


def read_corporate_actions(conn: psycopg.Connection, start: date, end: date) -> pd.DataFrame:
    """Splits and cash dividends with an ex-date from ``start`` to ``end``
    (``ex_date, instrument_id, action, value``)."""
    return read_frame(conn, """SELECT c.ex_date, i.instrument_id, c.action, c.value
                               FROM corporate_actions c JOIN instruments i USING (symbol)
                               WHERE c.ex_date BETWEEN %s AND %s
                               ORDER BY c.ex_date, i.instrument_id, c.action""", (start, end))


def read_last_closes(conn: psycopg.Connection, before: date) -> pd.Series:
    """Each instrument's last raw close before ``before`` (the opening marks)."""
    last_close = read_frame(conn, """SELECT DISTINCT ON (instrument_id) instrument_id, close
                                     FROM market_data WHERE trade_date < %s
                                     ORDER BY instrument_id, trade_date DESC""", (before,))
    return last_close.set_index("instrument_id")["close"].astype(float)


def _opening_state(conn: psycopg.Connection, start: date, capital: float) -> AccountState:
    previous = conn.execute("""SELECT as_of, equity, cash FROM performance
                               WHERE scope = 'portfolio' AND as_of < %s
                               ORDER BY as_of DESC LIMIT 1""", (start,)).fetchone()
    high_water = conn.execute("""SELECT max(equity) FROM performance
                                 WHERE scope = 'portfolio' AND as_of < %s""", (start,)).fetchone()[0]
    book = pd.DataFrame(columns=["quantity", "average_cost"], dtype=float)
    if previous is not None:
        book = read_frame(conn, """SELECT instrument_id, quantity, average_cost FROM positions
                                   WHERE as_of = %s""", (previous[0],)).set_index("instrument_id")
    open_orders = read_frame(conn, """SELECT client_order_id, instrument_id, side, quantity
                                      FROM orders WHERE status = 'submitted' AND as_of < %s
                                      AND broker = 'paper'
                                      ORDER BY client_order_id""", (start,))
    return AccountState(
        cash=float(previous[2]) if previous else capital,
        equity=float(previous[1]) if previous else capital,
        high_water=float(high_water) if high_water is not None else capital,
        book=book.astype(float),
        open_orders=open_orders,
        last_close=read_last_closes(conn, start),
        kill_switch=read_timeline(conn))


def run(context: StageContext) -> dict[str, int]:
    """Replay the window's sessions on the paper broker; store orders, fills and books.
    With a live broker configured (``broker.name`` other than ``paper``), run one OMS
    session instead (:func:`run_live`)."""
    config = context.trading
    if config.broker.name != "paper":
        return run_live(context, _wall_clock)
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        _check_risk_gate(conn, context)
        _reset_window(conn, *window)
        state = _opening_state(conn, context.start, config.trading_capital)
        instruments = read_instruments(conn)
        bars = read_session_bars(conn, *window)
        approved = read_frame(conn, """SELECT as_of, instrument_id, approved_quantity
                                       FROM portfolio_targets WHERE as_of BETWEEN %s AND %s""",
                              window)
        results = replay_sessions(context.sessions, config, state, instruments, bars,
                                  approved, read_corporate_actions(conn, *window))
        apply_escalations(conn, results.pop("control_events"), context.run_id)
        _store(conn, results)
        for day, outcomes in results.pop("gate_outcomes"):
            record_outcomes(conn, context.run_id, day, outcomes)
    return {table: len(frame) for table, frame in results.items()
            if table not in ("order_updates", "gate_outcomes")}


def _wall_clock() -> datetime:
    """The orders stage is where real time enters a live session (Airflow task / CLI)."""
    return datetime.now(UTC)


def run_live(context: StageContext, clock: Callable[[], datetime]) -> dict[str, int]:
    """One session on the configured live broker: reconcile, then trade the approved
    targets of ``context.end`` through the OMS (docs/execution.md). A window longer than
    one session is refused: a live account cannot replay history."""
    from macroquant.brokers.registry import check_broker_config, make_broker, secret_lookup
    from macroquant.execution.live import summary_counts, trade_session

    if context.start != context.end:
        raise MissingInputError(
            f"orders: broker '{context.trading.broker.name}' trades live; run one session at a "
            f"time (got {context.start}..{context.end})")
    with transaction(context.url) as conn:
        _check_risk_gate(conn, context)
        options = check_broker_config(context.trading, context.settings.config_path)
        broker = make_broker(context.trading.broker.name, options, secret_lookup(conn), clock)
    summary = trade_session(context.url, broker, context.trading, context.end,
                            context.run_id, clock)
    return summary_counts(summary)


def _store(conn: psycopg.Connection, results: dict[str, pd.DataFrame]) -> None:
    """Write the replay's results with COPY and one set-based update: the window's orders
    (final status and reason), the later status of orders sent before the window, fills,
    positions, performance and the corporate actions applied."""
    orders, earlier = settle_orders(results["orders"], results["order_updates"])
    orders = orders.reset_index()
    if "reason" not in orders.columns:
        orders["reason"] = ""
    orders["reason"] = orders["reason"].fillna("")
    copy_rows(conn, "orders", orders, [*ORDER_COLUMNS, "reason"], text_columns=["reason"])
    if not earlier.empty:
        conn.execute("""CREATE TEMP TABLE _order_updates (
                             client_order_id text PRIMARY KEY, status text, status_date date,
                             filled_quantity double precision,
                             average_fill_price double precision, reason text)
                         ON COMMIT DROP""")
        copy_rows(conn, "_order_updates", earlier.reset_index().assign(
            reason=earlier["reason"].fillna("").to_numpy()),
            ["client_order_id", "status", "status_date", "filled_quantity",
             "average_fill_price", "reason"], text_columns=["reason"])
        conn.execute("""UPDATE orders o SET status = u.status, status_date = u.status_date,
                                filled_quantity = u.filled_quantity,
                                average_fill_price = u.average_fill_price,
                                reason = CASE WHEN u.reason = '' THEN o.reason
                                              ELSE u.reason END
                         FROM _order_updates u
                         WHERE o.client_order_id = u.client_order_id""")
    copy_rows(conn, "trades", results["trades"], FILL_COLUMNS)
    copy_rows(conn, "positions", results["positions"], POSITION_COLUMNS)
    copy_rows(conn, "performance", results["performance"], PERFORMANCE_COLUMNS)
    copy_rows(conn, "account_actions", results["account_actions"], ACTION_ENTRY_COLUMNS)
