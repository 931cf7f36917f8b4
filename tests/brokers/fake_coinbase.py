"""A local fake of Coinbase Advanced Trade's REST API (v3 brokerage) for the real ccxt
client: create order (a repeated ``client_order_id`` returns the first order, as Coinbase
does), get order, list orders (batch), list fills, list accounts, batch cancel.

Market orders fill at once at ``prices[product]`` with a 0.6% taker commission (Coinbase's
entry tier); limit orders rest unless marketable. ``inject(method, prefix, action)`` as in
the Alpaca fake: ``"500"``, ``"429"``, ``"accept_then_drop"``.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.local_http import LocalHttpServer

NOW = "2024-01-02T15:30:00Z"
TAKER = 0.006
MARKETS = [{
    "id": "BTC-USD", "symbol": "BTC/USD", "base": "BTC", "quote": "USD", "baseId": "BTC",
    "quoteId": "USD", "type": "spot", "spot": True, "active": True, "contract": False,
    "precision": {"amount": 1e-8, "price": 0.01},
    "limits": {"amount": {"min": 1e-8}, "price": {"min": 0.01}, "cost": {"min": 1}},
}]


class FakeCoinbase(LocalHttpServer):
    def __init__(self, prices: dict[str, float], usd: float = 1_000_000.0) -> None:
        self.prices = dict(prices)
        self.balances: dict[str, float] = {"USD": usd}
        self.orders: dict[str, dict[str, Any]] = {}      # by order_id
        self.fills: list[dict[str, Any]] = []
        self.faults: list[tuple[str, str, str]] = []
        self.created = 0
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def inject(self, method: str, prefix: str, action: str, times: int = 1) -> None:
        self.faults.extend([(method, prefix, action)] * times)

    # ------------------------------------------------------------------ exchange logic
    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        for o in self.orders.values():
            if o["client_order_id"] == body["client_order_id"]:
                return {"success": True, "success_response": self._summary(o)}
        product, side = body["product_id"], body["side"]
        price = self.prices[product]
        config = body["order_configuration"]
        if "market_market_ioc" in config:
            spec = config["market_market_ioc"]
            size = float(spec["base_size"]) if "base_size" in spec else \
                float(spec["quote_size"]) / price
            limit = None
        else:
            spec = config["limit_limit_gtc"]
            size, limit = float(spec["base_size"]), float(spec["limit_price"])
        base, quote = product.split("-")
        if side == "BUY" and size * price * (1 + TAKER) > self.balances.get(quote, 0):
            return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON",
                    "error_response": {"error": "INSUFFICIENT_FUND",
                                       "message": "Insufficient balance in source account"}}
        order = {"order_id": str(uuid.uuid4()), "client_order_id": body["client_order_id"],
                 "product_id": product, "side": side, "order_configuration": config,
                 "status": "OPEN", "filled_size": 0.0, "avg": 0.0, "fees": 0.0,
                 "order_type": "MARKET" if limit is None else "LIMIT", "size": size}
        self.orders[order["order_id"]] = order
        self.created += 1
        marketable = limit is None or (price <= limit if side == "BUY" else price >= limit)
        if marketable:
            self._fill(order, size, price)
        return {"success": True, "success_response": self._summary(order)}

    def _fill(self, order: dict[str, Any], size: float, price: float) -> None:
        fee = size * price * TAKER
        order["avg"] = (order["avg"] * order["filled_size"] + price * size) / (
            order["filled_size"] + size)
        order["filled_size"] += size
        order["fees"] += fee
        order["status"] = "FILLED" if order["filled_size"] >= order["size"] - 1e-12 else "OPEN"
        base, quote = order["product_id"].split("-")
        sign = 1 if order["side"] == "BUY" else -1
        self.balances[base] = self.balances.get(base, 0.0) + sign * size
        self.balances[quote] = self.balances.get(quote, 0.0) - sign * size * price - fee
        self.fills.append({
            "entry_id": str(uuid.uuid4()), "trade_id": str(uuid.uuid4()),
            "order_id": order["order_id"], "trade_time": NOW, "trade_type": "FILL",
            "price": str(price), "size": str(size), "commission": str(fee),
            "product_id": order["product_id"], "sequence_timestamp": NOW,
            "liquidity_indicator": "TAKER", "size_in_quote": False, "user_id": "u1",
            "side": order["side"]})

    def _summary(self, o: dict[str, Any]) -> dict[str, Any]:
        return {"order_id": o["order_id"], "product_id": o["product_id"], "side": o["side"],
                "client_order_id": o["client_order_id"]}

    def _order_json(self, o: dict[str, Any]) -> dict[str, Any]:
        return {**self._summary(o), "user_id": "u1", "order_configuration":
                o["order_configuration"], "status": o["status"],
                "time_in_force": "IMMEDIATE_OR_CANCEL" if o["order_type"] == "MARKET"
                else "GOOD_UNTIL_CANCELLED", "created_time": NOW,
                "completion_percentage": str(100 * o["filled_size"] / o["size"]),
                "filled_size": str(o["filled_size"]),
                "average_filled_price": str(o["avg"]) if o["filled_size"] else "0",
                "number_of_fills": "1" if o["filled_size"] else "0",
                "filled_value": str(o["avg"] * o["filled_size"]), "pending_cancel": False,
                "size_in_quote": False, "total_fees": str(o["fees"]),
                "order_type": o["order_type"], "product_type": "SPOT",
                "reject_reason": "REJECT_REASON_UNSPECIFIED", "settled": True}

    def _accounts(self) -> list[dict[str, Any]]:
        return [{"uuid": str(uuid.uuid5(uuid.NAMESPACE_OID, c)), "name": f"{c} Wallet",
                 "currency": c, "available_balance": {"value": str(v), "currency": c},
                 "default": True, "active": True, "created_at": NOW, "updated_at": NOW,
                 "deleted_at": None, "type": "ACCOUNT_TYPE_CRYPTO", "ready": True,
                 "hold": {"value": "0", "currency": c}} for c, v in sorted(self.balances.items())]

    def route(self, method: str, path: str, query: dict[str, list[str]],
              body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            base = "/api/v3/brokerage"
            if method == "POST" and path == f"{base}/orders":
                return 200, self._create(body)
            if method == "POST" and path == f"{base}/orders/batch_cancel":
                results = []
                for oid in body.get("order_ids", []):
                    o = self.orders.get(oid)
                    ok = o is not None and o["status"] == "OPEN"
                    if ok:
                        o["status"] = "CANCELLED"
                    results.append({"success": ok, "failure_reason": "UNKNOWN_CANCEL_FAILURE_"
                                    "REASON" if not ok else "", "order_id": oid})
                return 200, {"results": results}
            if path == f"{base}/orders/historical/batch":
                wanted = query.get("order_status", [None])[0]
                rows = [self._order_json(o) for o in self.orders.values()
                        if wanted is None or o["status"] == wanted]
                return 200, {"orders": rows, "sequence": "0", "has_next": False, "cursor": ""}
            if path == f"{base}/orders/historical/fills":
                return 200, {"fills": list(self.fills), "cursor": ""}
            if path.startswith(f"{base}/orders/historical/"):
                o = self.orders.get(path.rsplit("/", 1)[1])
                if o is None:
                    return 404, {"error": "NOT_FOUND", "message": "order not found"}
                return 200, {"order": self._order_json(o)}
            if path == f"{base}/accounts":
                rows = self._accounts()
                return 200, {"accounts": rows, "has_next": False, "cursor": "",
                             "size": len(rows)}
        return 404, {"error": "NOT_FOUND", "message": f"no route {method} {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                if not (self.headers.get("CB-ACCESS-KEY") or self.headers.get("Authorization")):
                    self._answer(401, {"error": "unauthorized", "message": "no key"})
                    return
                fault = None
                for i, (m, prefix, _action) in enumerate(fake.faults):
                    if m == method and parsed.path.startswith(prefix):
                        fault = fake.faults.pop(i)[2]
                        break
                if fault in ("500", "503", "429"):
                    self._answer(int(fault), {"error": "INTERNAL", "message": f"injected {fault}"})
                    return
                status, payload = fake.route(method, parsed.path, parse_qs(parsed.query), body)
                if fault == "accept_then_drop":
                    self.close_connection = True
                    return
                self._answer(status, payload)

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler
