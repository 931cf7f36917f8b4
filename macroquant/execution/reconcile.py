"""Reconciliation of MacroQuant's orders, fills and positions with a broker's.

Run at the start of the orders stage, before any order is sent:

1. The broker's positions and open orders are read first. If either report cannot be
   obtained the reconciliation FAILS (:class:`ReconciliationError`, a ``failed`` row in
   ``reconciliations``): a missing report is never read as "flat" or "no orders".
2. Every open local order is refreshed from the broker (its fills are ingested once per
   execution id) — only if the broker's order under that id is the same order (symbol,
   side, quantity, type; :func:`macroquant.execution.oms.order_conflict`), else it is a
   mismatch showing both versions. A ``submitted``/``partially_filled``/``unknown`` order
   the broker does not know, or a broker order with a MacroQuant id (``MQ-``) that is not
   in ``orders`` — open or final, among the broker's recent orders — is a mismatch. A
   ``new`` order the broker does not know was never sent: the OMS sends it later.
3. Positions: the ledger (fills + accepted adjustments) must equal the broker's position
   for every instrument either side holds.

Each mismatch locks its instrument (``instrument_locks``) until a person resolves it with
``macroquant orders unlock SYMBOL --by NAME --reason TEXT`` (optionally accepting the
broker's position as an adjustment). Locked instruments get no new orders. A CRITICAL
alert is written when a lock is created (not again while it stays unresolved).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from macroquant.brokers.interface import Broker
from macroquant.errors import BrokerError, MacroQuantError
from macroquant.execution import order_store as store
from macroquant.execution.gate import ledger_positions
from macroquant.execution.oms import OrderManager, order_conflict

TOLERANCE = 1e-6


class ReconciliationError(MacroQuantError):
    """The broker's state could not be read: nothing may be traded on a guess."""


@dataclass
class ReconciliationResult:
    broker: str
    status: str                                   # 'ok' or 'mismatch'
    mismatches: list[dict] = field(default_factory=list)
    synced_orders: dict[str, str] = field(default_factory=dict)


def locked_symbols(conn: psycopg.Connection) -> set[str]:
    """Symbols with an unresolved lock."""
    return {r[0] for r in conn.execute(
        """SELECT i.symbol FROM instrument_locks l JOIN instruments i USING (instrument_id)
           WHERE l.resolved_at IS NULL""")}


def reconcile(oms: OrderManager, clock: Callable[[], datetime]) -> ReconciliationResult:
    """Reconcile ``oms``'s broker account (see the module docstring)."""
    broker: Broker = oms.broker
    conn = oms.conn
    try:
        broker_positions = {p.symbol: p.quantity for p in broker.positions()}
        broker_orders = broker.recent_orders()
    except BrokerError as exc:
        with conn.transaction():
            store.record_reconciliation(conn, broker.name, clock(), "failed",
                                        {"error": str(exc)})
            store.alert(conn, "CRITICAL", f"reconciliation with {broker.name} failed: {exc}; "
                        "no order is sent until it succeeds", oms.run_id, {})
        raise ReconciliationError(
            f"reconciliation with broker '{broker.name}' failed: {exc}. Its positions are "
            "unknown (not flat); no order is sent.") from exc

    result = ReconciliationResult(broker.name, "ok")
    local_open = store.open_orders(conn, broker.name)
    for row in local_open:
        report = broker.get_order(row.client_order_id)
        if report is not None:
            conflict = order_conflict(row, report)
            result.synced_orders[row.client_order_id] = oms.adopt(row, report)
            if conflict is not None:
                result.mismatches.append(conflict)
        elif row.status != "new":
            result.mismatches.append({
                "symbol": row.symbol, "kind": "order_unknown_at_broker",
                "client_order_id": row.client_order_id, "local_status": row.status})
    known = {r[0] for r in conn.execute("SELECT client_order_id FROM orders WHERE broker = %s",
                                        (broker.name,))}
    for order in broker_orders:
        if order.client_order_id.startswith("MQ-") and order.client_order_id not in known:
            result.mismatches.append({
                "symbol": order.symbol, "kind": "broker_order_unknown_locally",
                "client_order_id": order.client_order_id, "broker_status": order.status,
                "side": order.side, "quantity": order.quantity,
                "filled_quantity": order.filled_quantity})

    ledger = ledger_positions(conn, broker.name).groupby("symbol")["quantity"].sum()
    for symbol in sorted(set(ledger.index) | set(broker_positions)):
        ours, theirs = float(ledger.get(symbol, 0.0)), float(broker_positions.get(symbol, 0.0))
        if abs(ours - theirs) > TOLERANCE * max(1.0, abs(theirs)):
            result.mismatches.append({"symbol": symbol, "kind": "position",
                                      "ledger": ours, "broker": theirs})

    now = clock()
    with conn.transaction():
        ids = dict(conn.execute("SELECT symbol, instrument_id FROM instruments"))
        for mismatch in result.mismatches:
            instrument_id = ids.get(mismatch["symbol"])
            if instrument_id is None:
                store.alert(conn, "CRITICAL", f"reconciliation: broker {broker.name} holds "
                            f"{mismatch['symbol']}, which is not a known instrument", oms.run_id,
                            mismatch)
                continue
            if store.lock_instrument(conn, instrument_id, broker.name, now, mismatch["kind"],
                                     mismatch):
                store.alert(conn, "CRITICAL", f"reconciliation mismatch on "
                            f"{mismatch['symbol']} ({mismatch['kind']}): the instrument is "
                            "locked until a person resolves it (macroquant orders unlock)",
                            oms.run_id, mismatch)
        if result.mismatches:
            result.status = "mismatch"
        store.record_reconciliation(conn, broker.name, now, result.status,
                                    {"mismatches": result.mismatches,
                                     "synced": result.synced_orders,
                                     "broker_positions": broker_positions})
    return result


def unlock(conn: psycopg.Connection, symbol: str, *, by: str, reason: str, at: datetime,
           accept_broker_quantity: float | None = None, broker: str | None = None) -> int:
    """Resolve the open lock of ``symbol``. With ``accept_broker_quantity`` the difference
    between it and the ledger is recorded as a position adjustment (the person says the
    broker is right). Returns the lock id."""
    by, reason = by.strip(), reason.strip()
    if not by or not reason or by.lower().startswith("system:"):
        raise MacroQuantError("unlock: a person (--by NAME) and a reason are required")
    row = conn.execute("""SELECT l.lock_id, l.instrument_id, l.broker FROM instrument_locks l
                          JOIN instruments i USING (instrument_id)
                          WHERE i.symbol = %s AND l.resolved_at IS NULL FOR UPDATE OF l""",
                       (symbol,)).fetchone()
    if row is None:
        raise MacroQuantError(f"unlock: {symbol} has no open lock")
    lock_id, instrument_id, lock_broker = row
    broker = broker or lock_broker
    if accept_broker_quantity is not None:
        ledger = ledger_positions(conn, broker)
        ours = float(ledger.loc[ledger["symbol"] == symbol, "quantity"].sum())
        delta = accept_broker_quantity - ours
        if abs(delta) > 0:
            conn.execute("""INSERT INTO position_adjustments (broker, instrument_id, quantity,
                                adjusted_at, adjusted_by, reason) VALUES (%s, %s, %s, %s, %s, %s)""",
                         (broker, instrument_id, delta, at, by, reason))
    conn.execute("""UPDATE instrument_locks SET resolved_at = %s, resolved_by = %s,
                           resolution = %s WHERE lock_id = %s""", (at, by, reason, lock_id))
    return int(lock_id)

