"""Alpaca through the real ``alpaca-py`` TradingClient.

Duplicate protection: Alpaca refuses a second order with the same ``client_order_id``
(HTTP 422), and the OMS looks an id up (``GET /v2/orders:by_client_order_id``) before
(re)sending it. The SDK itself retries HTTP 429/504 (``retry_attempts``), which is safe for
the same reason. Fills come from the account activities endpoint (``/v2/account/
activities/FILL``), whose ids are unique executions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import TradeActivity
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from requests.adapters import HTTPAdapter

from macroquant.brokers.alpaca import parse
from macroquant.brokers.alpaca.config import AlpacaConfig, credentials
from macroquant.brokers.interface import (
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderRejected,
    OrderRequest,
)
from macroquant.errors import BrokerError

REJECTION_CODES = {400, 403, 404, 409, 422}
PAGE_SIZE = 100


class _TimeoutAdapter(HTTPAdapter):
    """requests has no session-wide timeout; the SDK passes none, so add one here."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(max_retries=0)
        self.timeout_s = timeout_s

    def send(self, request: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout_s
        return super().send(request, **kwargs)


class AlpacaBroker:
    """The Alpaca account named by ``config``; credentials come from ``lookup``."""

    name = "alpaca"

    def __init__(self, config: AlpacaConfig, lookup: Callable[[str], str | None]) -> None:
        key, secret = credentials(config, lookup)
        self.config = config
        self.client = TradingClient(key, secret, paper=config.paper,
                                    url_override=config.url_override)
        # RESTClient's documented retry settings (TradingClient does not forward them).
        self.client._retry = config.retry_attempts
        self.client._retry_wait = config.retry_wait_s
        adapter = _TimeoutAdapter(config.timeout_s)
        self.client._session.mount("http://", adapter)
        self.client._session.mount("https://", adapter)
        self._to_ours = {v: k for k, v in config.symbol_map.items()}
        self.asset_classes = frozenset(config.asset_classes)

    # ------------------------------------------------------------------ symbols
    def _theirs(self, symbol: str) -> str:
        return self.config.symbol_map.get(symbol, symbol)

    def _ours(self, symbol: str | None) -> str:
        return self._to_ours.get(symbol or "", symbol or "")

    def _fail(self, action: str, exc: Exception) -> NoReturn:
        if isinstance(exc, APIError):
            status = exc.status_code
            transient = status is None or status == 429 or status >= 500
            raise BrokerError(self.name, f"{action}: HTTP {status}: {exc}",
                              transient=transient) from exc
        raise BrokerError(self.name, f"{action}: {type(exc).__name__}: {exc}",
                          transient=True) from exc

    # ------------------------------------------------------------------ interface
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        common = {"symbol": self._theirs(request.symbol), "qty": request.quantity,
                  "side": OrderSide(request.side), "time_in_force": TimeInForce(request.time_in_force),
                  "client_order_id": request.client_order_id}
        data = (LimitOrderRequest(limit_price=request.limit_price, **common)
                if request.order_type == "limit" else MarketOrderRequest(**common))
        try:
            order = self.client.submit_order(data)
        except APIError as exc:
            if exc.status_code in REJECTION_CODES:
                raise OrderRejected(self.name, request.client_order_id, _message(exc)) from exc
            self._fail(f"submit {request.client_order_id}", exc)
        except requests.RequestException as exc:
            self._fail(f"submit {request.client_order_id}", exc)
        return parse.to_order(order, request.symbol)

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            order = self.client.get_order_by_client_id(client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            self._fail(f"look up {client_order_id}", exc)
        except requests.RequestException as exc:
            self._fail(f"look up {client_order_id}", exc)
        return parse.to_order(order, self._ours(order.symbol))

    def open_orders(self) -> list[BrokerOrder]:
        return self._orders(QueryOrderStatus.OPEN, "list open orders")

    def recent_orders(self) -> list[BrokerOrder]:
        """The newest 500 orders, open or closed (Alpaca's ``status=all``)."""
        return self._orders(QueryOrderStatus.ALL, "list orders")

    def _orders(self, status: QueryOrderStatus, action: str) -> list[BrokerOrder]:
        try:
            orders = self.client.get_orders(GetOrdersRequest(status=status, limit=500))
        except (APIError, requests.RequestException) as exc:
            self._fail(action, exc)
        return [parse.to_order(o, self._ours(o.symbol)) for o in orders]

    def cancel_order(self, client_order_id: str) -> None:
        order = self.get_order(client_order_id)
        if order is None:
            raise BrokerError(self.name, f"cancel {client_order_id}: no such order",
                              transient=False)
        try:
            self.client.cancel_order_by_id(order.broker_order_id)
        except (APIError, requests.RequestException) as exc:
            if isinstance(exc, APIError) and exc.status_code == 422:  # already final
                return
            self._fail(f"cancel {client_order_id}", exc)

    def fills(self, client_order_ids: list[str]) -> list[BrokerFill]:
        wanted: dict[str, tuple[str, str]] = {}
        for client_id in client_order_ids:
            order = self.get_order(client_id)
            if order is not None:
                wanted[order.broker_order_id] = (client_id, order.symbol)
        if not wanted:
            return []
        out: list[BrokerFill] = []
        for activity in self._fill_activities():
            match = wanted.get(str(activity.order_id))
            if match is not None:
                out.append(parse.to_fill(activity, *match))
        return out

    def _fill_activities(self) -> list[TradeActivity]:
        activities: list[TradeActivity] = []
        params: dict[str, Any] = {"direction": "asc", "page_size": PAGE_SIZE}
        while True:
            try:
                page = self.client.get("/account/activities/FILL", params)
            except (APIError, requests.RequestException) as exc:
                self._fail("list fills", exc)
            activities.extend(TradeActivity(**row) for row in page or [])
            if not page or len(page) < PAGE_SIZE:
                return activities
            params["page_token"] = page[-1]["id"]

    def positions(self) -> list[BrokerPosition]:
        try:
            positions = self.client.get_all_positions()
        except (APIError, requests.RequestException) as exc:
            self._fail("list positions", exc)
        return [parse.to_position(p, self._ours(p.symbol)) for p in positions]

    def clock_is_open(self) -> bool:
        """Whether Alpaca says the market is open now."""
        try:
            return bool(self.client.get_clock().is_open)
        except (APIError, requests.RequestException) as exc:
            self._fail("read the clock", exc)


def _message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        return str(exc)
