"""alpaca-py models -> interface records (pure)."""

from __future__ import annotations

from alpaca.trading.models import Order, Position, TradeActivity

from macroquant.brokers.interface import BrokerFill, BrokerOrder, BrokerPosition, BrokerStatus

# Alpaca order status -> OMS state. Working states (new, accepted, pending_*, held, ...) are
# 'submitted'; 'replaced' ends this order (its replacement is a new order).
_STATUS: dict[str, BrokerStatus] = {
    "partially_filled": "partially_filled", "filled": "filled", "canceled": "cancelled",
    "expired": "expired", "rejected": "rejected", "done_for_day": "expired",
    "replaced": "cancelled", "stopped": "filled", "suspended": "submitted",
}


def order_status(status: str, filled_quantity: float) -> BrokerStatus:
    """The OMS state of an Alpaca order status string."""
    mapped = _STATUS.get(status, "submitted")
    if mapped == "submitted" and filled_quantity > 0:
        return "partially_filled"
    return mapped


def to_order(order: Order, symbol: str) -> BrokerOrder:
    filled = float(order.filled_qty or 0)
    avg = float(order.filled_avg_price) if order.filled_avg_price else None
    return BrokerOrder(
        client_order_id=order.client_order_id, broker_order_id=str(order.id), symbol=symbol,
        side=str(getattr(order.side, "value", order.side)), quantity=float(order.qty or 0),
        filled_quantity=filled, average_fill_price=avg,
        status=order_status(str(getattr(order.status, "value", order.status)), filled),
        order_type=_value(order.order_type or order.type))


def _value(field: object) -> str | None:
    """An alpaca-py enum's value (or the raw string); None when absent."""
    return None if field is None else str(getattr(field, "value", field))


def to_fill(activity: TradeActivity, client_order_id: str, symbol: str) -> BrokerFill:
    """Alpaca charges no commission on US equities: fee 0."""
    return BrokerFill(
        execution_id=activity.id, client_order_id=client_order_id, symbol=symbol,
        side=str(getattr(activity.side, "value", activity.side)), quantity=float(activity.qty),
        price=float(activity.price), fee=0.0, fee_currency="USD",
        executed_at=activity.transaction_time)


def to_position(position: Position, symbol: str) -> BrokerPosition:
    quantity = abs(float(position.qty))
    side = str(getattr(position.side, "value", position.side))
    return BrokerPosition(symbol=symbol, quantity=-quantity if side == "short" else quantity)
