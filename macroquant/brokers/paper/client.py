"""Paper broker for the OMS: fills with the backtester's cost model and fill rules.

A market order fills at once, at its ``reference_price`` moved by slippage (the same
:class:`~macroquant.execution.paper.simulator.PaperBroker` fill as the daily replay, on a
one-bar frame whose open is the reference price). A limit order rests until
:meth:`PaperAccountBroker.mark` sees a price that crosses it, and then fills at the better
of the slipped price and its limit. An order for a symbol without any price is rejected.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from macroquant.brokers.interface import (
    BrokerFill,
    BrokerOrder,
    BrokerPosition,
    OrderRejected,
    OrderRequest,
)
from macroquant.brokers.paper import parse
from macroquant.brokers.paper.config import PaperConfig
from macroquant.execution.costs import CostModel
from macroquant.execution.paper.simulator import PaperBroker

OPEN = ("submitted", "partially_filled")


class PaperAccountBroker:
    """A simulated account; ``clock`` gives the fills' execution time.

    Its orders are recorded with broker ``paper-oms``: a separate account from the daily
    replay's ``paper`` book, so that the two ledgers never mix in reconciliation.
    """

    name = "paper-oms"

    def __init__(self, config: PaperConfig, clock: Any) -> None:
        self.config = config
        self.clock = clock
        self.simulator = PaperBroker(CostModel(config.commission_bps, config.slippage_bps))
        self.asset_classes = frozenset(config.asset_classes)
        self.state: dict[str, Any] = {"orders": {}, "fills": [], "book": {}, "prices": {}}
        if config.state_path is not None and config.state_path.exists():
            self.state = json.loads(config.state_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------ interface
    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        orders = self.state["orders"]
        if request.client_order_id in orders:
            raise OrderRejected(self.name, request.client_order_id,
                                "client_order_id must be unique")
        price = request.reference_price or self.state["prices"].get(request.symbol)
        if price is None:
            raise OrderRejected(self.name, request.client_order_id,
                                f"no price for {request.symbol}")
        self.state["prices"][request.symbol] = price
        orders[request.client_order_id] = {
            "id": f"paper-{len(orders) + 1}", "client_order_id": request.client_order_id,
            "symbol": request.symbol, "side": request.side, "quantity": request.quantity,
            "order_type": request.order_type, "limit_price": request.limit_price,
            "filled_quantity": 0.0, "average_fill_price": None, "status": "submitted"}
        self._try_fill(orders[request.client_order_id], price)
        self._save()
        return parse.to_order(orders[request.client_order_id])

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        raw = self.state["orders"].get(client_order_id)
        return None if raw is None else parse.to_order(raw)

    def open_orders(self) -> list[BrokerOrder]:
        return [parse.to_order(o) for o in self.state["orders"].values() if o["status"] in OPEN]

    def recent_orders(self) -> list[BrokerOrder]:
        return [parse.to_order(o) for o in self.state["orders"].values()]

    def cancel_order(self, client_order_id: str) -> None:
        raw = self.state["orders"].get(client_order_id)
        if raw is not None and raw["status"] in OPEN:
            raw["status"] = "cancelled"
            self._save()

    def fills(self, client_order_ids: list[str]) -> list[BrokerFill]:
        wanted = set(client_order_ids)
        return [parse.to_fill(f) for f in self.state["fills"] if f["client_order_id"] in wanted]

    def positions(self) -> list[BrokerPosition]:
        return parse.to_positions(self.state["book"])

    # ------------------------------------------------------------------ simulation
    def mark(self, symbol: str, price: float) -> None:
        """A new market price for ``symbol``: resting limit orders that it crosses fill."""
        self.state["prices"][symbol] = price
        for raw in list(self.state["orders"].values()):
            if raw["symbol"] == symbol and raw["status"] in OPEN:
                self._try_fill(raw, price)
        self._save()

    def _try_fill(self, raw: dict[str, Any], price: float) -> None:
        limit = raw["limit_price"]
        if limit is not None and (price > limit if raw["side"] == "buy" else price < limit):
            return
        remaining = raw["quantity"] - raw["filled_quantity"]
        orders = pd.DataFrame({"client_order_id": [raw["client_order_id"]], "instrument_id": [0],
                               "side": [raw["side"]], "quantity": [remaining]})
        bars = pd.DataFrame({"open": [price], "close": [price]}, index=[0])
        now: datetime = self.clock()
        fill = self.simulator.fill_market_orders(orders, bars, now.date())[0].iloc[0]
        fill_price = float(fill["price"])
        if limit is not None:
            fill_price = min(fill_price, limit) if raw["side"] == "buy" else max(fill_price, limit)
        fee = float(self.simulator.costs.commission(remaining, fill_price))
        number = len(self.state["fills"]) + 1
        self.state["fills"].append({
            "execution_id": f"P{number}", "client_order_id": raw["client_order_id"],
            "symbol": raw["symbol"], "side": raw["side"], "quantity": remaining,
            "price": fill_price, "fee": fee, "executed_at": now.isoformat()})
        signed = remaining if raw["side"] == "buy" else -remaining
        book = self.state["book"]
        book[raw["symbol"]] = book.get(raw["symbol"], 0.0) + signed
        if book[raw["symbol"]] == 0:
            del book[raw["symbol"]]
        raw["average_fill_price"] = fill_price
        raw["filled_quantity"] = raw["quantity"]
        raw["status"] = "filled"

    def _save(self) -> None:
        if self.config.state_path is not None:
            self.config.state_path.write_text(json.dumps(self.state), encoding="utf-8")
