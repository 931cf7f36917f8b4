"""Paper account state (a JSON-able dict) -> interface records (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from macroquant.brokers.interface import BrokerFill, BrokerOrder, BrokerPosition


def to_order(raw: dict[str, Any]) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=raw["client_order_id"], broker_order_id=raw["id"],
        symbol=raw["symbol"], side=raw["side"], quantity=float(raw["quantity"]),
        filled_quantity=float(raw["filled_quantity"]),
        average_fill_price=raw["average_fill_price"], status=raw["status"],
        reason=raw.get("reason", ""), order_type=raw.get("order_type"))


def to_fill(raw: dict[str, Any]) -> BrokerFill:
    return BrokerFill(
        execution_id=raw["execution_id"], client_order_id=raw["client_order_id"],
        symbol=raw["symbol"], side=raw["side"], quantity=float(raw["quantity"]),
        price=float(raw["price"]), fee=float(raw["fee"]), fee_currency="USD",
        executed_at=datetime.fromisoformat(raw["executed_at"]))


def to_positions(book: dict[str, float]) -> list[BrokerPosition]:
    return [BrokerPosition(symbol, float(q)) for symbol, q in sorted(book.items()) if q != 0]
