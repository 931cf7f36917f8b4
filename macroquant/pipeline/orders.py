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
(fills), ``positions`` (end-of-day snapshot), ``performance`` (scope ``'portfolio'``).
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
the last session stay ``submitted`` until the next run sees the next open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.errors import MissingInputError, PathDependencyError, RiskGateError
from macroquant.execution.accounting import apply_fills, cash_change
from macroquant.execution.costs import CostModel
from macroquant.execution.oms import client_order_id
from macroquant.execution.paper import PaperBroker
from macroquant.execution.paper.controls import (
    ControlEvent,
    apply_escalations,
    decide_at_close,
    delete_control_events,
    read_timeline,
    session_times,
)
from macroquant.execution.paper.simulator import FILL_COLUMNS
from macroquant.pipeline.context import StageContext
from macroquant.portfolio.sizing import round_to_lot, truncate_to_lot
from macroquant.risk.kill_switch import KillSwitchState
from macroquant.risk.order_gate import RiskLimits, RiskState, check_orders, record_outcomes

ORDER_COLUMNS = ["client_order_id", "as_of", "instrument_id", "side", "quantity", "broker",
                 "status", "status_date", "filled_quantity", "average_fill_price"]
PERFORMANCE_COLUMNS = ["as_of", "scope", "equity", "cash", "daily_pnl", "daily_return",
                       "drawdown", "gross_exposure", "net_exposure", "commission"]
UPDATE_COLUMNS = ["client_order_id", "status", "status_date", "filled_quantity",
                  "average_fill_price", "reason"]
HALT_CANCEL_REASON = "kill switch HALTED: open orders cancelled"
POSITION_COLUMNS = ["as_of", "instrument_id", "quantity", "average_cost", "last_price",
                    "market_value", "unrealized_pnl"]


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


def _opening_state(conn: psycopg.Connection, start: date, capital: float) -> dict:
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
    last_close = read_frame(conn, """SELECT DISTINCT ON (instrument_id) instrument_id, close
                                     FROM market_data WHERE trade_date < %s
                                     ORDER BY instrument_id, trade_date DESC""", (start,))
    return {
        "cash": float(previous[2]) if previous else capital,
        "equity": float(previous[1]) if previous else capital,
        "high_water": float(high_water) if high_water is not None else capital,
        "book": book.astype(float),
        "open_orders": open_orders,
        "last_close": last_close.set_index("instrument_id")["close"].astype(float),
        "kill_switch": read_timeline(conn),
    }


def run(context: StageContext) -> dict[str, int]:
    """Replay the window's sessions on the paper broker; store orders, fills and books.
    With a live broker configured (``broker.name`` other than ``paper``), run one OMS
    session instead (:func:`run_live`)."""
    config = context.trading
    if config.broker.name != "paper":
        return run_live(context, _wall_clock)
    broker = PaperBroker(CostModel(config.broker.commission_bps, config.broker.slippage_bps))
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        _check_risk_gate(conn, context)
        _reset_window(conn, *window)
        state = _opening_state(conn, context.start, config.trading_capital)
        instruments = read_frame(conn, """SELECT instrument_id, symbol, lot_size, asset_class
                                          FROM instruments""").set_index("instrument_id")
        bars = read_frame(conn, """SELECT trade_date, instrument_id, open, close FROM market_data
                                   WHERE trade_date BETWEEN %s AND %s""", window)
        approved = read_frame(conn, """SELECT as_of, instrument_id, approved_quantity
                                       FROM portfolio_targets WHERE as_of BETWEEN %s AND %s""",
                              window)
        results = _replay(context, broker, state, instruments, bars, approved)
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
    from macroquant.brokers.registry import make_broker, secret_lookup
    from macroquant.execution.live import trade_session

    if context.start != context.end:
        raise MissingInputError(
            f"orders: broker '{context.trading.broker.name}' trades live; run one session at a "
            f"time (got {context.start}..{context.end})")
    with transaction(context.url) as conn:
        _check_risk_gate(conn, context)
        options = dict(getattr(context.trading.broker, "options", None) or {})
        broker = make_broker(context.trading.broker.name, options, secret_lookup(conn), clock)
    summary = trade_session(context.url, broker, context.trading, context.end,
                            context.run_id, clock)
    statuses = list(summary.get("orders", {}).values())
    return {"orders": len(statuses), "filled": statuses.count("filled"),
            "rejected": statuses.count("rejected"),
            "skipped": len(summary.get("skipped", {}))}


def _gate(day: date, orders: pd.DataFrame, instruments: pd.DataFrame, book: pd.DataFrame,
          last_close: pd.Series, equity: float, kill_switch: KillSwitchState,
          limits: RiskLimits) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pre-trade gate on the day's orders: (orders with status/quantity/reason as
    decided, the gate's check outcomes)."""
    symbols = instruments["symbol"]
    proposed = pd.DataFrame({
        "order_ref": orders["client_order_id"],
        "strategy": "portfolio", "symbol": symbols.loc[orders["instrument_id"]].to_numpy(),
        "quantity": np.where(orders["side"] == "buy", 1.0, -1.0) * orders["quantity"],
        "price": last_close.reindex(orders["instrument_id"]).to_numpy(float),
        "asset_class": instruments.loc[orders["instrument_id"], "asset_class"].to_numpy()})
    by_symbol = instruments.reset_index().set_index("symbol")
    state = RiskState(
        kill_switch=kill_switch, equity=equity, instruments=by_symbol[["asset_class", "lot_size"]],
        positions=pd.Series(book["quantity"].to_numpy(float),
                            index=symbols.reindex(book.index).to_numpy()),
        last_prices=pd.Series(last_close.to_numpy(float),
                              index=symbols.reindex(last_close.index).to_numpy()))
    result = check_orders(proposed, state, limits)
    decided = result.decisions
    status = np.where(decided["status"].to_numpy() == "rejected", "rejected", "submitted")
    quantity = np.where(status == "rejected", orders["quantity"].to_numpy(float),
                        np.abs(decided["approved_quantity"].to_numpy(float)))
    reason = np.where(decided["status"].to_numpy() == "approved", "",
                      "risk gate: " + decided["reason"].astype(str).to_numpy())
    out = orders.assign(quantity=quantity, status=status, reason=reason)
    return out.assign(status_date=day), result.outcomes


def _proposed_orders(day: date, target: pd.Series, scale: float, book: pd.DataFrame,
                     instruments: pd.DataFrame, last_close: pd.Series,
                     min_order_notional: float) -> pd.DataFrame:
    """The day's orders before the gate: target (scaled by the drawdown control, toward
    zero in whole lots) minus position, rounded to lots, above the minimum notional."""
    # Positions no longer targeted by any strategy are closed.
    target = target.reindex(target.index.union(book.index)).fillna(0.0)
    lots = instruments.loc[target.index, "lot_size"].astype(float)
    if scale < 1.0:
        target = truncate_to_lot(target * scale, lots)
    current = book["quantity"].reindex(target.index).fillna(0.0)
    delta = round_to_lot(target - current, lots)
    price = last_close.reindex(target.index)
    tradable = (delta != 0) & (delta.abs() * price >= min_order_notional)
    delta = delta[tradable.fillna(False)]
    symbols = instruments.loc[delta.index, "symbol"]
    return pd.DataFrame({
        "client_order_id": [client_order_id(day, s) for s in symbols],
        "instrument_id": delta.index.astype(int),
        "side": np.where(delta.to_numpy() > 0, "buy", "sell"),
        "quantity": delta.abs().to_numpy(float),
    })


def _replay(context: StageContext, broker: PaperBroker, state: dict, instruments: pd.DataFrame,
            bars: pd.DataFrame, approved: pd.DataFrame) -> dict[str, pd.DataFrame]:
    config = context.trading
    bars_by_day = {d: g.set_index("instrument_id")[["open", "close"]].astype(float)
                   for d, g in bars.groupby("trade_date")}
    targets_by_day = {d: g.set_index("instrument_id")["approved_quantity"].astype(float)
                      for d, g in approved.groupby("as_of")}
    cash, equity, high_water = state["cash"], state["equity"], state["high_water"]
    book, last_close, open_orders = state["book"], state["last_close"], state["open_orders"]
    timeline = state["kill_switch"]
    orders, fills, updates, positions, performance = [], [], [], [], []
    gate_outcomes: list[tuple[date, pd.DataFrame]] = []
    control_events: list[ControlEvent] = []
    limits = RiskLimits.from_config(config)
    empty_bars = pd.DataFrame(columns=["open", "close"], dtype=float)
    times = session_times(context.sessions)

    for day in context.sessions:
        day_bars = bars_by_day.get(day, empty_bars)
        if timeline.state_at(times.at[day, "open"]) is KillSwitchState.HALTED:
            updates.append(pd.DataFrame({
                "client_order_id": open_orders["client_order_id"], "status": "cancelled",
                "status_date": day, "filled_quantity": 0.0, "average_fill_price": np.nan,
                "reason": HALT_CANCEL_REASON}))
            open_orders = open_orders.iloc[0:0]
        filled, unfilled = broker.fill_market_orders(open_orders, day_bars, day)
        fills.append(filled)
        updates.append(pd.DataFrame({
            "client_order_id": [*filled["client_order_id"], *unfilled["client_order_id"]],
            "status": ["filled"] * len(filled) + ["expired"] * len(unfilled),
            "status_date": day,
            "filled_quantity": [*filled["quantity"], *[0.0] * len(unfilled)],
            "average_fill_price": [*filled["price"], *[np.nan] * len(unfilled)],
            "reason": "",
        }))
        cash += cash_change(filled)
        book = apply_fills(book, filled)
        last_close = day_bars["close"].combine_first(last_close)

        marks = last_close.reindex(book.index)
        market_value = book["quantity"] * marks
        new_equity = cash + float(market_value.sum())
        scale, events = decide_at_close(day, times.at[day, "close"], new_equity, equity,
                                        high_water, config.risk, timeline)
        control_events.extend(events)
        high_water = max(high_water, new_equity)
        performance.append({
            "as_of": day, "scope": "portfolio", "equity": new_equity, "cash": cash,
            "daily_pnl": new_equity - equity, "daily_return": new_equity / equity - 1.0,
            "drawdown": min(0.0, new_equity / high_water - 1.0),
            "gross_exposure": float(market_value.abs().sum()),
            "net_exposure": float(market_value.sum()),
            "commission": float(filled["commission"].sum()) if not filled.empty else 0.0,
        })
        equity = new_equity
        positions.append(pd.DataFrame({
            "as_of": day, "instrument_id": book.index, "quantity": book["quantity"],
            "average_cost": book["average_cost"], "last_price": marks,
            "market_value": market_value,
            "unrealized_pnl": (marks - book["average_cost"]) * book["quantity"],
        }))

        switch = timeline.state_at(times.at[day, "close"])
        if switch is KillSwitchState.HALTED:   # nothing is sent from this close on
            open_orders = open_orders.iloc[0:0]
            continue
        proposed = _proposed_orders(day, targets_by_day.get(day, pd.Series(dtype=float)),
                                    scale, book, instruments, last_close,
                                    config.portfolio.min_order_notional)
        if not proposed.empty:
            decided, outcomes = _gate(day, proposed, instruments, book, last_close,
                                      new_equity, switch, limits)
            gate_outcomes.append((day, outcomes))
        else:
            decided = proposed.assign(status="submitted", reason="", status_date=day)
        orders.append(decided.assign(as_of=day, broker=broker.name, filled_quantity=0.0,
                                     average_fill_price=np.nan))
        open_orders = decided.loc[decided["status"] == "submitted", proposed.columns]

    def frame(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
        parts = [p for p in parts if not p.empty]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

    return {
        "orders": frame(orders, ORDER_COLUMNS),
        "order_updates": frame(updates, UPDATE_COLUMNS),
        "trades": frame(fills, FILL_COLUMNS),
        "positions": frame(positions, POSITION_COLUMNS),
        "performance": pd.DataFrame(performance, columns=PERFORMANCE_COLUMNS),
        "gate_outcomes": gate_outcomes,
        "control_events": control_events,
    }


def _store(conn: psycopg.Connection, results: dict[str, pd.DataFrame]) -> None:
    orders = results["orders"].set_index("client_order_id")
    updates = results["order_updates"].set_index("client_order_id")
    # Orders created in this window carry their final status; earlier ones are updated.
    # An update's reason (a cancellation) replaces the gate's only when it has one.
    new_ids = updates.index.intersection(orders.index)
    status_columns = [c for c in updates.columns if c != "reason"]
    orders.loc[new_ids, status_columns] = updates.loc[new_ids, status_columns]
    if "reason" in orders.columns and len(new_ids):
        given = updates.loc[new_ids, "reason"].fillna("")
        given = given[given != ""]
        orders.loc[given.index, "reason"] = given
    copy_rows(conn, "orders", orders.reset_index(), ORDER_COLUMNS)
    if "reason" in orders.columns:   # COPY csv reads '' as NULL: reasons go in separately
        explained = orders.loc[orders["reason"].fillna("") != "", "reason"]
        with conn.cursor() as cur:
            cur.executemany("UPDATE orders SET reason = %s WHERE client_order_id = %s",
                            [(r, i) for i, r in explained.items()])
    for order_id, row in updates.drop(new_ids).iterrows():
        conn.execute("""UPDATE orders SET status = %s, status_date = %s, filled_quantity = %s,
                               average_fill_price = %s,
                               reason = CASE WHEN %s = '' THEN reason ELSE %s END
                        WHERE client_order_id = %s""",
                     (row["status"], row["status_date"], row["filled_quantity"],
                      None if pd.isna(row["average_fill_price"]) else row["average_fill_price"],
                      row["reason"] or "", row["reason"] or "", order_id))
    copy_rows(conn, "trades", results["trades"], FILL_COLUMNS)
    copy_rows(conn, "positions", results["positions"], POSITION_COLUMNS)
    copy_rows(conn, "performance", results["performance"], PERFORMANCE_COLUMNS)
