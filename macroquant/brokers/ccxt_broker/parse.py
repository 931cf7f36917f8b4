"""ccxt's unified order / trade / balance structures -> interface records (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from macroquant.brokers.interface import BrokerFill, BrokerOrder, BrokerPosition, BrokerStatus


def to_ccxt_symbol(symbol: str, symbol_map: dict[str, str]) -> str:
    return symbol_map.get(symbol, symbol.replace("-", "/"))


def from_ccxt_symbol(symbol: str, symbol_map: dict[str, str]) -> str:
    reverse = {v: k for k, v in symbol_map.items()}
    return reverse.get(symbol, symbol.replace("/", "-"))


def order_status(order: dict[str, Any]) -> BrokerStatus:
    """ccxt statuses: open / closed / canceled / expired / rejected."""
    filled = float(order.get("filled") or 0)
    amount = float(order.get("amount") or 0)
    status = order.get("status")
    if status == "closed" or (amount and filled >= amount):
        return "filled" if filled >= amount or not amount else "cancelled"
    if status in ("canceled", "expired", "rejected"):
        return {"canceled": "cancelled", "expired": "expired", "rejected": "rejected"}[status]
    return "partially_filled" if filled > 0 else "submitted"


def to_order(order: dict[str, Any], symbol_map: dict[str, str]) -> BrokerOrder:
    filled = float(order.get("filled") or 0)
    return BrokerOrder(
        client_order_id=order.get("clientOrderId") or "", broker_order_id=str(order["id"]),
        symbol=from_ccxt_symbol(order["symbol"], symbol_map), side=order["side"],
        quantity=float(order.get("amount") or filled),
        filled_quantity=filled,
        average_fill_price=float(order["average"]) if order.get("average") else None,
        status=order_status(order), order_type=order.get("type"))


def to_fill(trade: dict[str, Any], client_order_id: str, symbol_map: dict[str, str]
            ) -> BrokerFill:
    fee = trade.get("fee") or {}
    return BrokerFill(
        execution_id=str(trade["id"]), client_order_id=client_order_id,
        symbol=from_ccxt_symbol(trade["symbol"], symbol_map), side=trade["side"],
        quantity=float(trade["amount"]), price=float(trade["price"]),
        fee=float(fee.get("cost") or 0.0), fee_currency=fee.get("currency") or "",
        executed_at=datetime.fromtimestamp(trade["timestamp"] / 1000, tz=UTC))


def to_positions(balance: dict[str, Any], quote: str) -> list[BrokerPosition]:
    """Spot holdings other than the quote currency, as ``BASE-QUOTE`` positions."""
    totals = balance.get("total") or {}
    return [BrokerPosition(f"{currency}-{quote}", float(amount))
            for currency, amount in sorted(totals.items())
            if currency != quote and amount]


def rejection_reason(exc: Exception) -> str:
    """The exchange's own message from a ccxt error (``'<exchange> <json body>'``)."""
    text = str(exc)
    try:
        body = json.loads(text.split(" ", 1)[1])
    except (IndexError, ValueError):
        return text
    error = body.get("error_response") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('error', '')}: {error.get('message', '')}".strip(": ")
    return text
