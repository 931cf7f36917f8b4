"""A crypto exchange through ``ccxt`` (synchronous client).

Coinbase refuses to create a second order with a ``client_order_id`` it has seen (it
returns the first one), and the OMS looks ids up before resending. Orders are found by
client order id among the exchange's order history; fills come from ``fetch_my_trades``
(unique trade ids, fee and fee currency); positions are the spot balances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import ccxt

from macroquant.brokers.ccxt_broker import parse
from macroquant.brokers.ccxt_broker.config import CcxtConfig, credentials
from macroquant.brokers.interface import (
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderRejected,
    OrderRequest,
)
from macroquant.errors import BrokerError, ConfigError


class CcxtBroker:
    """One exchange account."""

    name = "ccxt"

    def __init__(self, config: CcxtConfig, lookup: Callable[[str], str | None]) -> None:
        exchange_class = getattr(ccxt, config.exchange, None)
        if exchange_class is None:
            raise ConfigError("broker.ccxt", "exchange",
                              f"ccxt has no exchange {config.exchange!r}")
        self.config = config
        self.asset_classes = frozenset(config.asset_classes)
        self.exchange = exchange_class({**credentials(config, lookup),
                                        "timeout": config.timeout_ms, "enableRateLimit": True})
        if config.api_url:
            api = self.exchange.urls["api"]
            self.exchange.urls["api"] = ({k: config.api_url for k in api}
                                         if isinstance(api, dict) else config.api_url)

    def _fail(self, action: str, exc: Exception) -> NoReturn:
        transient = isinstance(exc, ccxt.NetworkError)   # timeouts, 5xx, rate limits
        raise BrokerError(self.name, f"{self.config.exchange}: {action}: "
                          f"{type(exc).__name__}: {exc}", transient=transient) from exc

    def _symbol(self, symbol: str) -> str:
        return parse.to_ccxt_symbol(symbol, self.config.symbol_map)

    def _all_orders(self) -> list[dict[str, Any]]:
        try:
            return self.exchange.fetch_orders(params={"paginate": True})
        except ccxt.BaseError as exc:
            self._fail("list orders", exc)

    # ------------------------------------------------------------------ interface
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        symbol = self._symbol(request.symbol)
        price = request.limit_price if request.order_type == "limit" else request.reference_price
        try:
            created = self.exchange.create_order(
                symbol, request.order_type, request.side, request.quantity, price,
                {self.config.client_order_id_param: request.client_order_id})
        except (ccxt.NetworkError, ccxt.AuthenticationError, ccxt.PermissionDenied) as exc:
            self._fail(f"submit {request.client_order_id}", exc)
        except ccxt.BaseError as exc:   # the exchange answered and refused the order
            raise OrderRejected(self.name, request.client_order_id,
                                parse.rejection_reason(exc)) from exc
        try:
            order = self.exchange.fetch_order(created["id"], symbol)
        except ccxt.BaseError as exc:   # accepted, state unknown: the OMS looks it up
            raise BrokerError(self.name, f"read back {request.client_order_id}: {exc}",
                              transient=True) from exc
        order.setdefault("clientOrderId", request.client_order_id)
        return parse.to_order(order, self.config.symbol_map)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        for order in self._all_orders():
            if order.get("clientOrderId") == client_order_id:
                return parse.to_order(order, self.config.symbol_map)
        return None

    def open_orders(self) -> list[BrokerOrder]:
        try:
            orders = self.exchange.fetch_open_orders()
        except ccxt.BaseError as exc:
            self._fail("list open orders", exc)
        return [parse.to_order(o, self.config.symbol_map) for o in orders]

    def recent_orders(self) -> list[BrokerOrder]:
        return [parse.to_order(o, self.config.symbol_map) for o in self._all_orders()]

    def cancel_order(self, client_order_id: str) -> None:
        order = self.get_order(client_order_id)
        if order is None:
            raise BrokerError(self.name, f"cancel {client_order_id}: no such order",
                              transient=False)
        try:
            self.exchange.cancel_order(order.broker_order_id, self._symbol(order.symbol))
        except ccxt.OrderNotFound:
            return
        except ccxt.BaseError as exc:
            self._fail(f"cancel {client_order_id}", exc)

    def fills(self, client_order_ids: list[str]) -> list[BrokerFill]:
        wanted = set(client_order_ids)
        ids = {o["id"]: o["clientOrderId"] for o in self._all_orders()
               if o.get("clientOrderId") in wanted}
        if not ids:
            return []
        try:
            trades = self.exchange.fetch_my_trades(params={"paginate": True})
        except ccxt.BaseError as exc:
            self._fail("list fills", exc)
        return [parse.to_fill(t, ids[t["order"]], self.config.symbol_map)
                for t in trades if t.get("order") in ids]

    def positions(self) -> list[BrokerPosition]:
        try:
            balance = self.exchange.fetch_balance(self.config.balance_params)
        except ccxt.BaseError as exc:
            self._fail("read balances", exc)
        return parse.to_positions(balance, self.config.quote_currency)
