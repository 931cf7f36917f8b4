"""ib_async objects -> interface records (pure)."""

from __future__ import annotations

from ib_async import Fill, Position, Trade

from macroquant.brokers.interface import BrokerFill, BrokerOrder, BrokerPosition, BrokerStatus

# IB order status -> OMS state ('Inactive' is IB's rejection; pending states are working)
_STATUS: dict[str, BrokerStatus] = {
    "Filled": "filled", "Cancelled": "cancelled", "ApiCancelled": "cancelled",
    "Inactive": "rejected", "ValidationError": "rejected",
}
ORDER_TYPES = {"MKT": "market", "LMT": "limit"}
SIDES = {"BUY": "buy", "SELL": "sell", "BOT": "buy", "SLD": "sell"}


def order_status(status: str, filled: float) -> BrokerStatus:
    mapped = _STATUS.get(status, "submitted")
    return "partially_filled" if mapped == "submitted" and filled > 0 else mapped


def to_order(trade: Trade, symbol: str) -> BrokerOrder:
    status = trade.orderStatus
    reason = next((e.message for e in reversed(trade.log) if e.errorCode), "")
    return BrokerOrder(
        client_order_id=trade.order.orderRef, broker_order_id=str(trade.order.permId or
                                                                  trade.order.orderId),
        symbol=symbol, side=SIDES[trade.order.action], quantity=float(trade.order.totalQuantity),
        filled_quantity=float(status.filled),
        average_fill_price=float(status.avgFillPrice) if status.filled else None,
        status=order_status(status.status, float(status.filled)), reason=reason,
        order_type=ORDER_TYPES.get(trade.order.orderType))


def to_fill(fill: Fill, symbol: str) -> BrokerFill:
    execution, report = fill.execution, fill.commissionReport
    return BrokerFill(
        execution_id=execution.execId, client_order_id=execution.orderRef, symbol=symbol,
        side=SIDES[execution.side], quantity=float(execution.shares),
        price=float(execution.price), fee=float(report.commission if report else 0.0),
        fee_currency=(report.currency if report and report.currency else "USD"),
        executed_at=fill.time)


def to_position(position: Position, symbol: str) -> BrokerPosition:
    return BrokerPosition(symbol=symbol, quantity=float(position.position))
