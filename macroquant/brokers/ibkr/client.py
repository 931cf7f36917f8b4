"""Interactive Brokers through ``ib_async``'s synchronous ``IB`` client.

The client order id travels in IB's ``Order.orderRef`` (returned on every execution), so
orders and fills are found by it after a restart: on connect ib_async loads open orders and
the day's executions; completed orders are read with ``reqCompletedOrders``. Fills carry
IB's unique ``execId`` and the commission report's fee.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from macroquant.brokers.ibkr import parse
from macroquant.brokers.ibkr.config import IbkrConfig, credentials
from macroquant.brokers.interface import (
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderRejected,
    OrderRequest,
)
from macroquant.errors import BrokerError


class IbkrBroker:
    """One IB account; ``ib`` is an ``ib_async.IB`` (connected here) or a test double."""

    name = "ibkr"

    def __init__(self, config: IbkrConfig, lookup: Callable[[str], str | None], *,
                 ib: Any = None) -> None:
        self.account = credentials(config, lookup)
        self.config = config
        if ib is None:
            from ib_async import IB

            ib = IB()
        self.ib = ib
        self._to_ours = {v: k for k, v in config.symbol_map.items()}
        self.asset_classes = frozenset(config.asset_classes)

    def _connected(self) -> Any:
        if not self.ib.isConnected():
            try:
                self.ib.connect(self.config.host, self.config.port,
                                clientId=self.config.client_id, timeout=self.config.timeout_s,
                                account=self.account)
            except (OSError, TimeoutError, ConnectionError) as exc:
                raise BrokerError(self.name, f"cannot reach TWS/IB Gateway at "
                                  f"{self.config.host}:{self.config.port}: {exc}",
                                  transient=True) from exc
        return self.ib

    def _ours(self, symbol: str) -> str:
        return self._to_ours.get(symbol, symbol)

    def _contract(self, symbol: str) -> Any:
        from ib_async import Stock

        return Stock(self.config.symbol_map.get(symbol, symbol), self.config.exchange,
                     self.config.currency)

    def _trades_by_ref(self) -> dict[str, Any]:
        ib = self._connected()
        trades = {t.order.orderRef: t for t in ib.reqCompletedOrders(apiOnly=True)
                  if t.order.orderRef}
        trades.update({t.order.orderRef: t for t in ib.trades() if t.order.orderRef})
        return trades

    # ------------------------------------------------------------------ interface
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        from ib_async import LimitOrder, MarketOrder

        ib = self._connected()
        action = "BUY" if request.side == "buy" else "SELL"
        common = {"orderRef": request.client_order_id, "account": self.account,
                  "tif": request.time_in_force.upper()}
        order = (LimitOrder(action, request.quantity, request.limit_price, **common)
                 if request.order_type == "limit" else
                 MarketOrder(action, request.quantity, **common))
        try:
            trade = ib.placeOrder(self._contract(request.symbol), order)
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise BrokerError(self.name, f"submit {request.client_order_id}: {exc}",
                              transient=True) from exc
        report = parse.to_order(trade, request.symbol)
        if report.status == "rejected":
            raise OrderRejected(self.name, request.client_order_id, report.reason or "Inactive")
        return report

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        trade = self._trades_by_ref().get(client_order_id)
        return None if trade is None else parse.to_order(trade, self._ours(trade.contract.symbol))

    def open_orders(self) -> list[BrokerOrder]:
        return [parse.to_order(t, self._ours(t.contract.symbol))
                for t in self._connected().openTrades()]

    def recent_orders(self) -> list[BrokerOrder]:
        """This session's orders and the completed ones IB reports (API orders)."""
        return [parse.to_order(t, self._ours(t.contract.symbol))
                for t in self._trades_by_ref().values()]

    def cancel_order(self, client_order_id: str) -> None:
        trade = self._trades_by_ref().get(client_order_id)
        if trade is None:
            raise BrokerError(self.name, f"cancel {client_order_id}: no such order",
                              transient=False)
        self.ib.cancelOrder(trade.order)

    def fills(self, client_order_ids: list[str]) -> list[BrokerFill]:
        wanted = set(client_order_ids)
        return [parse.to_fill(f, self._ours(f.contract.symbol))
                for f in self._connected().fills() if f.execution.orderRef in wanted]

    def positions(self) -> list[BrokerPosition]:
        return [parse.to_position(p, self._ours(p.contract.symbol))
                for p in self._connected().positions(self.account) if p.position]
