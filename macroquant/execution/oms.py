"""The order management system: write, gate, send, track and fill every live order.

The life of an order (see :mod:`macroquant.execution.order_states`):

1. :meth:`OrderManager.place` writes it as ``new`` under a deterministic client order id
   and COMMITS before anything is sent, so a crash, retry or rerun finds it again.
2. :meth:`OrderManager.send_pending` takes every ``new`` order of the broker (this run's and
   any a crashed run left behind), first asks the broker whether it already knows the id
   (never resend an id the broker has), runs the rest through the risk gate right before
   sending (rejected -> ``rejected``; reduced -> the smaller quantity is stored), and sends
   only what the gate approved. A timeout or 5xx/429 makes the outcome UNKNOWN: the id is
   looked up again and resent only if the broker answers that it has no such order; if it
   cannot answer, the order stays ``new`` for the next run (which looks it up first).
3. :meth:`OrderManager.sync` reads the broker's view and its fills: fills go to ``trades``
   once per execution id, and the status follows the state machine.

Adoption is verified: an order the broker reports under one of our client ids is taken as
ours only when its symbol, side, quantity and type match the stored order
(:func:`order_conflict`). Otherwise nothing of it is counted: the instrument is locked with
both versions in the lock's details, a CRITICAL alert is written, and a ``new`` order is
set ``rejected`` (its id is taken at the broker); ``macroquant orders unlock`` resolves it.

If the broker accepted an order but its fills cannot be read, the order is set ``unknown``
(with the broker's order id), a ``failed`` reconciliation row and a CRITICAL alert are
written, and the session goes on; the next run's reconciliation looks it up and resolves it.

A broker rejection sets ``rejected`` with the broker's reason and writes an ERROR alert to
``system_logs``. ``hooks(point, client_order_id)`` is called at ``"written"``,
``"approved"`` and ``"sent"``; the fault-injection tests use it to kill the process there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import psycopg

from macroquant.brokers.interface import Broker, BrokerOrder, OrderRejected, OrderRequest
from macroquant.db.connection import connect
from macroquant.errors import BrokerError, MacroQuantError
from macroquant.execution import order_store as store
from macroquant.execution.gate import decide, risk_state
from macroquant.execution.order_ids import NETTED, client_order_id
from macroquant.execution.order_states import OPEN_STATES, TRANSITIONS, status_after_fills
from macroquant.risk.order_gate import ApprovedOrder, GateResult, RiskLimits


class DuplicateOrderIdError(MacroQuantError):
    """A deterministic client order id is already used by another broker's order."""


CONFLICT = "conflict"   # the outcome of an order whose id the broker uses for another order


def order_conflict(row: store.OrderRow, report: BrokerOrder) -> dict | None:
    """None when the broker's ``report`` is our order ``row`` (same symbol, side, quantity
    and, when the broker says, type); else the mismatch with both versions."""
    ours = {"symbol": row.symbol, "side": row.side, "quantity": row.quantity,
            "order_type": row.order_type}
    theirs = {"symbol": report.symbol, "side": report.side, "quantity": report.quantity,
              "order_type": report.order_type, "filled_quantity": report.filled_quantity,
              "status": report.status, "broker_order_id": report.broker_order_id}
    differs = [key for key in ("symbol", "side", "order_type")
               if theirs[key] is not None and theirs[key] != ours[key]]
    if abs(report.quantity - row.quantity) > 1e-9 * max(1.0, row.quantity):
        differs.append("quantity")
    if not differs:
        return None
    return {"symbol": row.symbol, "kind": "order_differs_at_broker",
            "client_order_id": row.client_order_id, "differs": sorted(differs),
            "ours": ours, "broker": theirs}


def describe_conflict(conflict: dict) -> str:
    """One line naming both versions of a conflicting order."""
    def side(version: dict) -> str:
        return (f"{version['side']} {version['quantity']:g} {version['symbol']} "
                f"{version['order_type'] or ''}".strip())
    return (f"order {conflict['client_order_id']}: the broker has a different order under "
            f"this id (ours: {side(conflict['ours'])}; broker's: {side(conflict['broker'])}, "
            f"{conflict['broker']['status']}); not adopted")


@dataclass(frozen=True)
class OrderIntent:
    """An order the caller wants (signed ``quantity``: + buys, - sells)."""

    symbol: str
    quantity: float
    reference_price: float
    strategy: str = NETTED
    sequence: int = 1
    order_type: str = "market"
    limit_price: float | None = None
    parent_id: str | None = None
    client_order_id: str | None = None   # default: client_order_id(as_of, symbol, ...)


def request_from_approved(approved: ApprovedOrder, row: store.OrderRow) -> OrderRequest:
    """The broker request for a gate-approved order; nothing else can become a request."""
    if not isinstance(approved, ApprovedOrder) or approved.order_ref != row.client_order_id:
        raise TypeError("only the risk gate's ApprovedOrder for this order can be sent")
    return OrderRequest(
        client_order_id=row.client_order_id, symbol=approved.symbol,
        side="buy" if approved.quantity > 0 else "sell", quantity=abs(approved.quantity),
        order_type="limit" if row.order_type == "limit" else "market",
        limit_price=row.limit_price, reference_price=row.reference_price or approved.price)


class OrderManager:
    """Orders of one broker account; ``clock`` gives the (injected) current time."""

    def __init__(self, url: str, broker: Broker, limits: RiskLimits, *, run_id: str,
                 clock: Callable[[], datetime], equity: float,
                 hooks: Callable[[str, str], None] | None = None,
                 max_send_attempts: int = 3) -> None:
        self.url = url
        self.broker = broker
        self.limits = limits
        self.run_id = run_id
        self.clock = clock
        self.equity = equity
        self.hooks = hooks or (lambda point, client_order_id: None)
        self.max_send_attempts = max_send_attempts
        self._conn: psycopg.Connection | None = None

    # ------------------------------------------------------------------ connection
    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            # autocommit: each ``with conn.transaction()`` block commits on its own, and a
            # read never leaves a transaction open around the broker calls
            self._conn = connect(self.url)
            self._conn.autocommit = True
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # ------------------------------------------------------------------ placing
    def place(self, as_of: date, intents: Iterable[OrderIntent]) -> dict[str, str]:
        """Write the intents as ``new`` orders (committed), then send every pending order.
        Returns client order id -> status (unknown instruments: ``rejected``)."""
        outcome: dict[str, str] = {}
        written: list[str] = []
        with self.conn.transaction():
            ids = dict(self.conn.execute("SELECT symbol, instrument_id FROM instruments"))
            for intent in intents:
                coid = intent.client_order_id or client_order_id(
                    as_of, intent.symbol, intent.sequence, intent.strategy)
                if intent.symbol not in ids:
                    outcome[coid] = "rejected"
                    store.alert(self.conn, "ERROR",
                                f"order {coid} rejected: unknown instrument '{intent.symbol}'",
                                self.run_id, {"client_order_id": coid, "symbol": intent.symbol})
                    continue
                row = store.OrderRow(
                    client_order_id=coid, as_of=as_of, strategy=intent.strategy,
                    instrument_id=ids[intent.symbol], symbol=intent.symbol,
                    side="buy" if intent.quantity > 0 else "sell",
                    quantity=abs(intent.quantity), order_type=intent.order_type,
                    limit_price=intent.limit_price, reference_price=intent.reference_price,
                    broker=self.broker.name, status="new", filled_quantity=0.0,
                    broker_order_id=None, reason="")
                if not store.insert_new(self.conn, row, parent_id=intent.parent_id,
                                        sequence=intent.sequence, at=self.clock()):
                    self._check_same_order(row)    # a rerun: the id is already written
                written.append(coid)
        for coid in written:
            self.hooks("written", coid)
        outcome.update(self.send_pending(as_of))
        return outcome

    def _check_same_order(self, row: store.OrderRow) -> None:
        existing = store.load_order(self.conn, row.client_order_id)
        if existing.broker != row.broker or existing.instrument_id != row.instrument_id:
            raise DuplicateOrderIdError(
                f"client order id {row.client_order_id} already belongs to an order of broker "
                f"'{existing.broker}' ({existing.symbol}); one account trades an as-of date's "
                f"targets — nothing was sent to '{row.broker}' for it")

    def send_pending(self, as_of: date) -> dict[str, str]:
        """Send every ``new`` order of this broker (see the module docstring)."""
        pending = [o for o in store.open_orders(self.conn, self.broker.name) if o.status == "new"]
        result: dict[str, str] = {}
        unsent: list[store.OrderRow] = []
        for row in pending:
            try:
                known = self.broker.get_order(row.client_order_id)
            except BrokerError as exc:
                if not exc.transient:
                    raise
                self._unsent_alert(row.client_order_id, "the look-up before sending failed",
                                   exc)
                result[row.client_order_id] = "new"
                continue
            if known is not None:
                result[row.client_order_id] = self.adopt(row, known)
            else:
                unsent.append(row)
        if not unsent:
            return result
        with self.conn.transaction():
            gate = self._gate(as_of, unsent)
            approved = {a.order_ref: a for a in gate.approved}
            # decisions are in the order of ``unsent`` (the gate keeps the given sequence)
            decisions = gate.decisions[["status", "reason"]].to_dict("records")
            for row, decision in zip(unsent, decisions, strict=True):
                if row.client_order_id not in approved:
                    store.transition(self.conn, row.client_order_id, "rejected", self.clock(),
                                     reason=f"risk gate: {decision['reason']}")
                    result[row.client_order_id] = "rejected"
                elif decision["status"] == "reduced":
                    store.set_quantity(self.conn, row.client_order_id,
                                       abs(approved[row.client_order_id].quantity),
                                       self.clock(), f"risk gate: {decision['reason']}")
        for row in unsent:
            if row.client_order_id in approved:
                self.hooks("approved", row.client_order_id)
                result[row.client_order_id] = self._submit(row, approved[row.client_order_id])
        return result

    def _gate(self, as_of: date, rows: list[store.OrderRow]) -> GateResult:
        asset_class = dict(self.conn.execute("SELECT symbol, asset_class FROM instruments"))
        proposed = pd.DataFrame({
            "order_ref": [r.client_order_id for r in rows],
            "strategy": [r.strategy for r in rows], "symbol": [r.symbol for r in rows],
            "quantity": [r.signed_quantity for r in rows],
            "price": [r.limit_price or r.reference_price for r in rows],
            "asset_class": [asset_class.get(r.symbol, "") for r in rows]})
        prices = {r.symbol: r.reference_price for r in rows if r.reference_price}
        state = risk_state(self.conn, self.broker.name, as_of, self.equity, prices)
        return decide(self.conn, proposed, state, self.limits, self.run_id, as_of)

    def _submit(self, row: store.OrderRow, approved: ApprovedOrder) -> str:
        request = request_from_approved(approved, row)
        coid = row.client_order_id
        last_error: BrokerError | None = None
        for _attempt in range(self.max_send_attempts):
            try:
                order = self.broker.submit_order(request)
            except OrderRejected as exc:
                with self.conn.transaction():
                    store.transition(self.conn, coid, "rejected", self.clock(),
                                     reason=f"broker: {exc.reason}")
                    store.alert(self.conn, "ERROR", f"broker {self.broker.name} rejected order "
                                f"{coid}: {exc.reason}", self.run_id,
                                {"client_order_id": coid, "symbol": row.symbol})
                return "rejected"
            except BrokerError as exc:
                if not exc.transient:
                    raise
                last_error = exc
                try:   # outcome unknown: did the broker take it?
                    order = self.broker.get_order(coid)
                except BrokerError:
                    break
                if order is None:
                    continue   # the broker has no such order: safe to send again
                self.hooks("sent", coid)
                return self.adopt(row, order)   # found by lookup: verified before adoption
            self.hooks("sent", coid)
            return self.apply_report(coid, order)
        self._unsent_alert(coid, f"send outcome unknown after {self.max_send_attempts} "
                           "attempt(s)", last_error)
        return "new"

    def _unsent_alert(self, coid: str, what: str, error: BrokerError | None) -> None:
        with self.conn.transaction():
            store.alert(self.conn, "WARNING", f"order {coid}: {what} ({error}); it stays "
                        "'new' (unsent) and is looked up at the broker before any resend",
                        self.run_id, {"client_order_id": coid})

    # ------------------------------------------------------------------ tracking
    def adopt(self, row: store.OrderRow, report: BrokerOrder) -> str:
        """Take the broker's ``report`` as our order ``row`` if it is the same order (see
        :func:`order_conflict`); else refuse it (lock, alert) and return ``CONFLICT``."""
        conflict = order_conflict(row, report)
        if conflict is None:
            return self.apply_report(row.client_order_id, report)
        with self.conn.transaction():
            now = self.clock()
            current = store.load_order(self.conn, row.client_order_id, lock=True)
            if current is not None and current.status == "new":
                store.transition(self.conn, row.client_order_id, "rejected", now,
                                 reason="client order id used at the broker by a different "
                                        "order; instrument locked")
            store.lock_instrument(self.conn, row.instrument_id, self.broker.name, now,
                                  conflict["kind"], conflict)
            store.alert(self.conn, "CRITICAL", f"{describe_conflict(conflict)}; "
                        f"{row.symbol} is locked until a person resolves it (macroquant "
                        f"orders unlock {row.symbol})", self.run_id, conflict)
        return CONFLICT

    def apply_report(self, coid: str, report: BrokerOrder) -> str:
        """Bring the stored order in line with the broker's report and its fills; return
        the resulting status (``unknown`` when the fills cannot be read)."""
        try:
            fills = self.broker.fills([coid]) if report.filled_quantity > 0 else []
        except BrokerError as exc:
            return self._fills_unknown(coid, report, exc)
        with self.conn.transaction():
            now = self.clock()
            row = store.load_order(self.conn, coid, lock=True)
            if row.status == "new":
                store.transition(self.conn, coid, "submitted", now,
                                 broker_order_id=report.broker_order_id)
            if report.status == "rejected":
                store.transition(self.conn, coid, "rejected", now,
                                 reason=f"broker: {report.reason or 'rejected'}")
                return "rejected"
            store.ingest_fills(self.conn, self.broker.name, fills)
            row = store.load_order(self.conn, coid)
            target = status_after_fills(row.quantity, row.filled_quantity, report.status)
            if target != row.status:
                store.transition(self.conn, coid, target, now,
                                 details={"broker_status": report.status,
                                          "broker_filled": report.filled_quantity})
            return target

    def _fills_unknown(self, coid: str, report: BrokerOrder, error: BrokerError) -> str:
        """The broker has the order but its fills could not be read: ``unknown``, a failed
        reconciliation row and a CRITICAL alert; the next reconciliation resolves it."""
        with self.conn.transaction():
            now = self.clock()
            row = store.load_order(self.conn, coid, lock=True)
            if "unknown" in TRANSITIONS[row.status]:
                store.transition(self.conn, coid, "unknown", now,
                                 reason=f"fills not read: {error}",
                                 broker_order_id=report.broker_order_id,
                                 details={"broker_status": report.status,
                                          "broker_filled": report.filled_quantity})
            store.record_reconciliation(
                self.conn, self.broker.name, now, "failed",
                {"error": str(error), "client_order_id": coid,
                 "broker_filled": report.filled_quantity})
            store.alert(self.conn, "CRITICAL", f"order {coid} ({row.symbol}): the broker "
                        f"accepted it ({report.status}, {report.filled_quantity:g} filled) but "
                        f"its fills could not be read ({error}); it is 'unknown' until the "
                        "next run looks it up", self.run_id,
                        {"client_order_id": coid, "symbol": row.symbol})
        return "unknown"

    def sync(self, client_order_ids: Iterable[str] | None = None) -> dict[str, str]:
        """Refresh open orders (all of this broker's, or the given ones) from the broker.
        An order the broker does not know is left as it is (reconciliation decides)."""
        ids = list(client_order_ids) if client_order_ids is not None else [
            o.client_order_id for o in store.open_orders(self.conn, self.broker.name)
            if o.status != "new"]
        out = {}
        for coid in ids:
            report = self.broker.get_order(coid)
            row = store.load_order(self.conn, coid)
            if report is not None and row is not None:
                out[coid] = self.adopt(row, report)
        return out

    def cancel(self, coid: str, reason: str) -> str:
        """Cancel one order: at the broker if sent, locally if it never left."""
        row = store.load_order(self.conn, coid)
        if row is None or row.status not in OPEN_STATES:
            return row.status if row else "unknown"
        known = self.broker.get_order(coid)
        if known is None:
            with self.conn.transaction():
                store.transition(self.conn, coid, "cancelled", self.clock(), reason=reason)
            return "cancelled"
        self.broker.cancel_order(coid)
        final = self.apply_report(coid, self.broker.get_order(coid) or known)
        if final in OPEN_STATES:   # the broker has not confirmed yet; next sync will
            return final
        with self.conn.transaction():
            self.conn.execute("UPDATE orders SET reason = %s WHERE client_order_id = %s "
                              "AND reason = ''", (reason, coid))
        return final

    def cancel_all_open(self, reason: str) -> dict[str, str]:
        """Cancel every open order of this broker (the kill switch is HALTED)."""
        return {o.client_order_id: self.cancel(o.client_order_id, reason)
                for o in store.open_orders(self.conn, self.broker.name)}
