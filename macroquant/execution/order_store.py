"""Persistence of live orders: writes before sends, audited transitions, fill ingestion.

Every function takes an open connection; the caller decides the transaction (the OMS
commits the ``new`` row before it talks to the broker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg
from psycopg.types.json import Jsonb

from macroquant.brokers.interface import BrokerFill
from macroquant.execution.order_states import check_transition
from macroquant.pipeline.logs import write_system_log

LOGGER = "macroquant.execution.oms"


@dataclass(frozen=True)
class OrderRow:
    """One row of ``orders`` as the OMS needs it."""

    client_order_id: str
    as_of: date
    strategy: str
    instrument_id: int
    symbol: str
    side: str
    quantity: float
    order_type: str
    limit_price: float | None
    reference_price: float | None
    broker: str
    status: str
    filled_quantity: float
    broker_order_id: str | None
    reason: str

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity


_SELECT = """SELECT o.client_order_id, o.as_of, o.strategy, o.instrument_id, i.symbol, o.side,
                    o.quantity, o.order_type, o.limit_price, o.reference_price, o.broker,
                    o.status, o.filled_quantity, o.broker_order_id, o.reason
             FROM orders o JOIN instruments i USING (instrument_id)"""


def load_order(conn: psycopg.Connection, client_order_id: str, *, lock: bool = False
               ) -> OrderRow | None:
    """The order, optionally locked FOR UPDATE."""
    row = conn.execute(_SELECT + " WHERE o.client_order_id = %s" +
                       (" FOR UPDATE OF o" if lock else ""), (client_order_id,)).fetchone()
    return None if row is None else OrderRow(*row)


def open_orders(conn: psycopg.Connection, broker: str) -> list[OrderRow]:
    """Every open order of ``broker`` (new / submitted / partially_filled / unknown), by id."""
    rows = conn.execute(_SELECT + """ WHERE o.broker = %s
                        AND o.status IN ('new', 'submitted', 'partially_filled', 'unknown')
                        ORDER BY o.client_order_id""", (broker,)).fetchall()
    return [OrderRow(*r) for r in rows]


def insert_new(conn: psycopg.Connection, row: OrderRow, *, parent_id: str | None,
               sequence: int, at: datetime) -> bool:
    """Write the order as ``new`` unless its id exists; return whether it was inserted."""
    inserted = conn.execute(
        """INSERT INTO orders (client_order_id, as_of, instrument_id, side, quantity,
                               order_type, broker, status, status_date, strategy, sequence,
                               limit_price, reference_price, parent_id, created_at, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, 'new', %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (client_order_id) DO NOTHING""",
        (row.client_order_id, row.as_of, row.instrument_id, row.side, row.quantity,
         row.order_type, row.broker, at.date(), row.strategy, sequence, row.limit_price,
         row.reference_price, parent_id, at, at)).rowcount
    if inserted:
        _event(conn, row.client_order_id, None, "new", at, "written before sending", {})
    return bool(inserted)


def transition(conn: psycopg.Connection, client_order_id: str, target: str, at: datetime, *,
               reason: str = "", broker_order_id: str | None = None,
               details: dict | None = None) -> bool:
    """Move the order to ``target`` (checked by the state machine). A repeat of the current
    state (other than partially_filled) is a no-op; returns whether anything changed."""
    current = load_order(conn, client_order_id, lock=True)
    if current is None:
        raise KeyError(client_order_id)
    if current.status == target and target != "partially_filled":
        return False
    check_transition(client_order_id, current.status, target)
    conn.execute(
        """UPDATE orders SET status = %s, status_date = %s, updated_at = %s,
                  reason = CASE WHEN %s = '' THEN reason ELSE %s END,
                  broker_order_id = COALESCE(%s, broker_order_id)
           WHERE client_order_id = %s""",
        (target, at.date(), at, reason, reason, broker_order_id, client_order_id))
    _event(conn, client_order_id, current.status, target, at, reason, details or {})
    return True


def set_quantity(conn: psycopg.Connection, client_order_id: str, quantity: float,
                 at: datetime, reason: str) -> None:
    """Reduce a ``new`` order (the risk gate approved less than was proposed)."""
    conn.execute("""UPDATE orders SET quantity = %s, updated_at = %s, reason = %s
                    WHERE client_order_id = %s AND status = 'new'""",
                 (quantity, at, reason, client_order_id))


def ingest_fills(conn: psycopg.Connection, broker: str, fills: list[BrokerFill]) -> int:
    """Store fills in ``trades`` (``trade_id = broker:execution_id``; a repeated report is
    ignored) and refresh each order's filled quantity and average price. Returns the number
    of NEW fills."""
    added = 0
    touched: set[str] = set()
    for fill in fills:
        order = load_order(conn, fill.client_order_id)
        if order is None:
            raise KeyError(f"fill {fill.execution_id} for unknown order {fill.client_order_id}")
        reference = order.reference_price or fill.price
        added += conn.execute(
            """INSERT INTO trades (trade_id, client_order_id, trade_date, instrument_id, side,
                                   quantity, price, reference_price, price_field, commission,
                                   slippage_cost, executed_at, fee_currency)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'broker', %s, %s, %s, %s)
               ON CONFLICT (trade_id) DO NOTHING""",
            (f"{broker}:{fill.execution_id}", fill.client_order_id, fill.executed_at.date(),
             order.instrument_id, fill.side, fill.quantity, fill.price, reference, fill.fee,
             abs(fill.price - reference) * fill.quantity, fill.executed_at,
             fill.fee_currency)).rowcount
        touched.add(fill.client_order_id)
    for client_order_id in sorted(touched):
        conn.execute(
            """UPDATE orders o SET filled_quantity = LEAST(t.q, o.quantity),
                      average_fill_price = t.px
               FROM (SELECT sum(quantity) AS q, sum(quantity * price) / sum(quantity) AS px
                     FROM trades WHERE client_order_id = %s) t
               WHERE o.client_order_id = %s""", (client_order_id, client_order_id))
    return added


def lock_instrument(conn: psycopg.Connection, instrument_id: int, broker: str, at: datetime,
                    reason: str, details: dict) -> bool:
    """Lock the instrument (no new orders) until a person resolves it with ``macroquant
    orders unlock``; returns False when it was already locked."""
    return bool(conn.execute(
        """INSERT INTO instrument_locks (instrument_id, broker, locked_at, reason, details)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (instrument_id) WHERE resolved_at IS NULL DO NOTHING""",
        (instrument_id, broker, at, reason, Jsonb(details))).rowcount)


def record_reconciliation(conn: psycopg.Connection, broker: str, at: datetime, status: str,
                          details: dict) -> None:
    """A ``reconciliations`` row: ``ok``, ``mismatch`` or ``failed``."""
    conn.execute("""INSERT INTO reconciliations (broker, checked_at, status, details)
                    VALUES (%s, %s, %s, %s)""", (broker, at, status, Jsonb(details)))


def alert(conn: psycopg.Connection, level: str, message: str, run_id: str | None,
          context: dict) -> None:
    """An operator alert in ``system_logs``."""
    write_system_log(conn, level, LOGGER, message, run_id, context)


def _event(conn: psycopg.Connection, client_order_id: str, before: str | None, after: str,
           at: datetime, reason: str, details: dict) -> None:
    conn.execute("""INSERT INTO order_events (client_order_id, from_status, to_status,
                                              event_time, reason, details)
                    VALUES (%s, %s, %s, %s, %s, %s)""",
                 (client_order_id, before, after, at, reason, Jsonb(details)))
