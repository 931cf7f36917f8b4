"""The paper account's session replay (pure): approved targets → orders → pre-trade gate →
fills at the next open with costs → positions, cash and equity marked at the close, with
drawdown control and the daily loss limit deciding at each close.

Both drivers run it: the daily orders stage (:mod:`macroquant.pipeline.orders`, which
reads the opening :class:`AccountState` from PostgreSQL and stores the result) and the
book backtest (:mod:`macroquant.backtest.book`, which starts from a fresh account in
memory). For each session D: orders sent after the close of D-1 fill at D's open;
positions are marked at D's close; new orders for D's targets are sent after D's close.
The kill switch obeyed is the state in effect at each session's open (fills; HALTED
cancels the open orders) and close (new orders; HALTED sends none, REDUCING lets the gate
pass only reductions), from the :class:`KillSwitchTimeline` — never the state "now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from macroquant.config.settings import TradingConfig
from macroquant.execution.accounting import (
    ACTION_ENTRY_COLUMNS,
    apply_corporate_actions,
    apply_fills,
    cash_change,
)
from macroquant.execution.costs import CostModel
from macroquant.execution.order_ids import client_order_id
from macroquant.execution.paper.controls import (
    ControlEvent,
    KillSwitchTimeline,
    decide_at_close,
    session_times,
)
from macroquant.execution.paper.simulator import FILL_COLUMNS, PaperBroker
from macroquant.portfolio.sizing import round_to_lot, truncate_to_lot
from macroquant.risk.kill_switch_state import KillSwitchState
from macroquant.risk.order_gate import RiskLimits, RiskState, check_orders

ORDER_COLUMNS = ["client_order_id", "as_of", "instrument_id", "side", "quantity", "broker",
                 "status", "status_date", "filled_quantity", "average_fill_price"]
PERFORMANCE_COLUMNS = ["as_of", "scope", "equity", "cash", "daily_pnl", "daily_return",
                       "drawdown", "gross_exposure", "net_exposure", "commission"]
UPDATE_COLUMNS = ["client_order_id", "status", "status_date", "filled_quantity",
                  "average_fill_price", "reason"]
HALT_CANCEL_REASON = "kill switch HALTED: open orders cancelled"
POSITION_COLUMNS = ["as_of", "instrument_id", "quantity", "average_cost", "last_price",
                    "market_value", "unrealized_pnl"]


@dataclass(frozen=True)
class AccountState:
    """The account at the close before the first replayed session: ``cash``, ``equity``,
    ``high_water`` (the highest equity so far), ``book`` (indexed by instrument_id:
    ``quantity, average_cost``), ``open_orders`` (``client_order_id, instrument_id, side,
    quantity``, sent and not yet filled), ``last_close`` (raw close per instrument_id) and
    the ``kill_switch`` timeline."""

    cash: float
    equity: float
    high_water: float
    book: pd.DataFrame
    open_orders: pd.DataFrame
    last_close: pd.Series
    kill_switch: KillSwitchTimeline

    @classmethod
    def fresh(cls, capital: float, last_close: pd.Series,
              kill_switch: KillSwitchTimeline | None = None) -> AccountState:
        """A new account holding ``capital`` in cash and nothing else."""
        return cls(cash=capital, equity=capital, high_water=capital,
                   book=pd.DataFrame(columns=["quantity", "average_cost"], dtype=float),
                   open_orders=pd.DataFrame(columns=["client_order_id", "instrument_id",
                                                     "side", "quantity"]),
                   last_close=last_close.astype(float),
                   kill_switch=kill_switch or KillSwitchTimeline())


def gate_orders(day: date, orders: pd.DataFrame, instruments: pd.DataFrame, book: pd.DataFrame,
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


def propose_orders(day: date, target: pd.Series, scale: float, book: pd.DataFrame,
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


def replay_sessions(sessions: list[date], config: TradingConfig, state: AccountState,
                    instruments: pd.DataFrame, bars: pd.DataFrame, approved: pd.DataFrame,
                    actions: pd.DataFrame | None = None) -> dict[str, Any]:
    """Replay ``sessions`` on the paper broker from ``state``: for each session D the
    orders sent after D-1's close fill at D's open (``broker.execution_price: next_open``)
    or at D's close (``next_close``), the book is marked at D's close, the controls decide,
    and the orders for D's approved targets go through the pre-trade gate.

    ``instruments``: indexed by instrument_id (``symbol, lot_size, asset_class``);
    ``bars``: ``trade_date, instrument_id, open, close`` (raw prices) of the sessions;
    ``approved``: ``as_of, instrument_id, approved_quantity`` (the risk stage's);
    ``actions``: the corporate actions of the sessions (``ex_date, instrument_id, action,
    value``): on its ex-date, before the open, a split adjusts the position held (and the
    last close it is marked at) and a dividend credits cash
    (:func:`~macroquant.execution.accounting.apply_corporate_actions`). Orders sent the
    evening before a split are not adjusted (their quantity is as sent).
    Returns frames ``orders`` (:data:`ORDER_COLUMNS` + ``reason``), ``order_updates``
    (later status changes of orders sent before the window), ``trades``, ``positions``,
    ``performance``, ``account_actions`` (:data:`ACTION_ENTRY_COLUMNS`) and the lists
    ``gate_outcomes`` (per day) and ``control_events``.
    """
    broker = PaperBroker(CostModel(config.broker.commission_bps, config.broker.slippage_bps))
    bars_by_day = {d: g.set_index("instrument_id")[["open", "close"]].astype(float)
                   for d, g in bars.groupby("trade_date")}
    targets_by_day = {d: g.set_index("instrument_id")["approved_quantity"].astype(float)
                      for d, g in approved.groupby("as_of")}
    cash, equity, high_water = state.cash, state.equity, state.high_water
    book, last_close, open_orders = state.book, state.last_close, state.open_orders
    timeline = state.kill_switch
    orders, fills, updates, positions, performance = [], [], [], [], []
    gate_outcomes: list[tuple[date, pd.DataFrame]] = []
    control_events: list[ControlEvent] = []
    limits = RiskLimits.from_config(config)
    empty_bars = pd.DataFrame(columns=["open", "close"], dtype=float)
    times = session_times(sessions)
    if actions is None:
        actions = pd.DataFrame(columns=["ex_date", "instrument_id", "action", "value"])
    actions_by_day = {d: g for d, g in actions.groupby("ex_date")}
    entries: list[pd.DataFrame] = []
    no_fills = pd.DataFrame(columns=FILL_COLUMNS)
    fill_time = "close" if config.broker.execution_price == "next_close" else "open"

    for day in sessions:
        day_bars = bars_by_day.get(day, empty_bars)
        if day in actions_by_day:
            book, received, applied = apply_corporate_actions(book, actions_by_day[day], day)
            cash += received
            entries.append(applied)
            splits = actions_by_day[day].query("action == 'split'")
            ratio = pd.Series(splits["value"].to_numpy(float),
                              index=splits["instrument_id"].to_numpy())
            last_close = last_close.div(ratio.reindex(last_close.index).fillna(1.0))
        if (not open_orders.empty
                and timeline.state_at(times.at[day, fill_time]) is KillSwitchState.HALTED):
            updates.append(pd.DataFrame({
                "client_order_id": open_orders["client_order_id"], "status": "cancelled",
                "status_date": day, "filled_quantity": 0.0, "average_fill_price": np.nan,
                "reason": HALT_CANCEL_REASON}))
            open_orders = open_orders.iloc[0:0]
        filled = no_fills
        if not open_orders.empty:
            filled, unfilled = broker.fill_market_orders(open_orders, day_bars, day,
                                                         at=fill_time)
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
        target = targets_by_day.get(day)
        if (target is None or target.empty) and book.empty:
            open_orders = open_orders.iloc[0:0]       # nothing wanted, nothing held
            continue
        proposed = propose_orders(day, pd.Series(dtype=float) if target is None else target,
                                  scale, book, instruments, last_close,
                                  config.portfolio.min_order_notional)
        if proposed.empty:
            open_orders = open_orders.iloc[0:0]
            continue
        decided, outcomes = gate_orders(day, proposed, instruments, book, last_close,
                                        new_equity, switch, limits)
        gate_outcomes.append((day, outcomes))
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
        "account_actions": frame(entries, ACTION_ENTRY_COLUMNS),
        "gate_outcomes": gate_outcomes,
        "control_events": control_events,
    }


def settle_orders(orders: pd.DataFrame, updates: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The replay's orders with their final status, and the status changes of orders sent
    before the window (both indexed by ``client_order_id``).

    Orders created in the window carry their last update (fill, expiry, cancellation); an
    update's reason (a cancellation) replaces the gate's only when it has one.
    """
    orders = orders.set_index("client_order_id")
    updates = updates.set_index("client_order_id")
    new_ids = updates.index.intersection(orders.index)
    status_columns = [c for c in updates.columns if c != "reason"]
    orders.loc[new_ids, status_columns] = updates.loc[new_ids, status_columns]
    if "reason" in orders.columns and len(new_ids):
        given = updates.loc[new_ids, "reason"].fillna("")
        given = given[given != ""]
        orders.loc[given.index, "reason"] = given
    return orders, updates.drop(new_ids)
