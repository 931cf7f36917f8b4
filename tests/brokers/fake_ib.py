"""A fake of the ``ib_async.IB`` surface the IBKR adapter uses, built from ib_async's own
record types (Trade, OrderStatus, Fill, Execution, CommissionReport, Position).

Orders fill at once at ``prices[symbol]`` (commission 0.005/share, IB's fixed US rate)
unless ``fill = False``; symbols in ``reject`` go ``Inactive`` with an error, as IB does.
``restart()`` forgets the session's trades as a new client connection would, keeping what
IB itself keeps (completed orders, the day's executions, positions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ib_async import (
    CommissionReport,
    Execution,
    Fill,
    OrderStatus,
    Position,
    Trade,
    TradeLogEntry,
)

T0 = datetime(2024, 1, 2, 15, 30, tzinfo=UTC)


class FakeIB:
    def __init__(self, prices: dict[str, float]) -> None:
        self.prices = prices
        self.fill = True
        self.reject: set[str] = set()
        self.connected = False
        self.connects = 0
        self.session: list[Trade] = []
        self.completed: list[Trade] = []
        self.executions: list[Fill] = []
        self.book: dict[str, tuple[Any, float]] = {}
        self.next_id = 1
        self.placed = 0

    # ---------------------------------------------------------------- connection
    def isConnected(self) -> bool:  # noqa: N802 (ib_async's names)
        return self.connected

    def connect(self, host: str, port: int, clientId: int, timeout: float,  # noqa: N803
                account: str) -> None:
        self.connected, self.connects, self.account = True, self.connects + 1, account

    def restart(self) -> None:
        self.connected = False
        self.session = [t for t in self.session if t.orderStatus.status not in
                        ("Filled", "Cancelled", "Inactive")]

    # ---------------------------------------------------------------- orders
    def placeOrder(self, contract: Any, order: Any) -> Trade:  # noqa: N802
        order.orderId, order.permId = self.next_id, 9000 + self.next_id
        self.next_id += 1
        self.placed += 1
        trade = Trade(contract=contract, order=order,
                      orderStatus=OrderStatus(orderId=order.orderId, status="Submitted",
                                              remaining=order.totalQuantity))
        self.session.append(trade)
        if contract.symbol in self.reject:
            trade.orderStatus.status = "Inactive"
            trade.log.append(TradeLogEntry(T0, "Inactive", "Order rejected - reason: "
                                           "insufficient margin", 201))
        elif self.fill:
            self.execute(trade, order.totalQuantity)
        return trade

    def execute(self, trade: Trade, shares: float) -> None:
        price = self.prices[trade.contract.symbol]
        side = "BOT" if trade.order.action == "BUY" else "SLD"
        status = trade.orderStatus
        execution = Execution(execId=f"0000e0d5.{len(self.executions) + 1:08d}.01.01",
                              time=T0, side=side, shares=shares, price=price,
                              orderId=trade.order.orderId, orderRef=trade.order.orderRef,
                              cumQty=status.filled + shares)
        fill = Fill(trade.contract, execution,
                    CommissionReport(execution.execId, 0.005 * shares, "USD"), T0)
        trade.fills.append(fill)
        self.executions.append(fill)
        status.avgFillPrice = (status.avgFillPrice * status.filled + price * shares) / (
            status.filled + shares)
        status.filled += shares
        status.remaining = trade.order.totalQuantity - status.filled
        status.status = "Filled" if status.remaining <= 0 else "Submitted"
        if status.status == "Filled":
            self.completed.append(trade)
        signed = shares if side == "BOT" else -shares
        contract, held = self.book.get(trade.contract.symbol, (trade.contract, 0.0))
        self.book[trade.contract.symbol] = (contract, held + signed)

    def trades(self) -> list[Trade]:
        return list(self.session)

    def openTrades(self) -> list[Trade]:  # noqa: N802
        return [t for t in self.session if t.orderStatus.status in ("Submitted", "PreSubmitted")]

    def reqCompletedOrders(self, apiOnly: bool) -> list[Trade]:  # noqa: N802, N803
        return list(self.completed)

    def cancelOrder(self, order: Any) -> None:  # noqa: N802
        for trade in self.session:
            if trade.order is order and trade.orderStatus.status == "Submitted":
                trade.orderStatus.status = "Cancelled"
                self.completed.append(trade)

    def fills(self) -> list[Fill]:
        return list(self.executions)

    def positions(self, account: str = "") -> list[Position]:
        return [Position(account, c, q, 0.0) for c, q in self.book.values() if q]
