"""A local fake of Alpaca's trading REST API (v2) on 127.0.0.1, for tests.

Serves the endpoints the adapter uses, in Alpaca's documented JSON shapes: ``/v2/account``,
``/v2/clock``, ``/v2/orders`` (POST, GET ?status=open), ``/v2/orders/{id}`` (GET, DELETE),
``/v2/orders:by_client_order_id``, ``/v2/positions``, ``/v2/account/activities/FILL``.
Like Alpaca it refuses a repeated ``client_order_id`` with HTTP 422 and needs the
``APCA-API-KEY-ID`` header. Orders fill at once at ``prices[symbol]`` unless ``fill_mode`` is
``"partial"`` (half now, the rest on :meth:`FakeAlpaca.fill_rest`) or ``"none"``.

Faults: :meth:`FakeAlpaca.inject` queues actions for the next requests matching a method
and path prefix: ``"500"``/``"503"``/``"429"`` (answer that status without acting),
``"drop"`` (close the connection without acting), ``"accept_then_drop"`` (act, then close the
connection without an answer), ``"accept_then_sleep"`` (act, then answer only after
``sleep_s``: a client read timeout after the broker accepted), ``"duplicate_fills"``
(the fill activities list repeats every fill).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.local_http import LocalHttpServer

ACCOUNT_ID = "904837e3-3b76-47ec-b432-046db621571b"
OPEN_STATES = {"new", "accepted", "partially_filled", "pending_new"}


def _now() -> str:
    return datetime(2024, 1, 2, 15, 30, tzinfo=UTC).isoformat().replace("+00:00", "Z")


class FakeAlpaca(LocalHttpServer):
    """State of the fake account, and the server that exposes it."""

    def __init__(self, prices: dict[str, float] | None = None) -> None:
        self.prices = dict(prices or {})
        self.fill_mode = "fill"
        self.reject_symbols: set[str] = set()
        self.orders: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.positions: dict[str, float] = {}
        self.faults: list[tuple[str, str, str]] = []
        self.requests: list[tuple[str, str]] = []
        self.sleep_s = 1.5
        self.posted_orders = 0            # orders the fake accepted (duplicates would count)
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def inject(self, method: str, path_prefix: str, action: str, times: int = 1) -> None:
        with self.lock:
            self.faults.extend([(method, path_prefix, action)] * times)

    # ------------------------------------------------------------------ account logic
    def _order_json(self, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": o["id"], "client_order_id": o["client_order_id"], "created_at": _now(),
            "updated_at": _now(), "submitted_at": _now(),
            "filled_at": _now() if o["status"] == "filled" else None, "expired_at": None,
            "canceled_at": None, "failed_at": None, "replaced_at": None, "replaced_by": None,
            "replaces": None, "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
            "symbol": o["symbol"], "asset_class": "us_equity", "notional": None,
            "qty": str(o["qty"]), "filled_qty": str(o["filled_qty"]),
            "filled_avg_price": None if not o["filled_qty"] else str(o["avg"]),
            "order_class": "simple", "order_type": o["type"], "type": o["type"],
            "side": o["side"], "time_in_force": o["time_in_force"],
            "limit_price": None if o["limit_price"] is None else str(o["limit_price"]),
            "stop_price": None, "status": o["status"], "extended_hours": False, "legs": None,
            "trail_percent": None, "trail_price": None, "hwm": None,
        }

    def _execute(self, o: dict[str, Any], quantity: float) -> None:
        price = self.prices[o["symbol"]]
        if o["limit_price"] is not None and (
                price > o["limit_price"] if o["side"] == "buy" else price < o["limit_price"]):
            return
        total = o["filled_qty"] + quantity
        o["avg"] = (o["avg"] * o["filled_qty"] + price * quantity) / total
        o["filled_qty"] = total
        o["status"] = "filled" if total >= o["qty"] else "partially_filled"
        signed = quantity if o["side"] == "buy" else -quantity
        self.positions[o["symbol"]] = self.positions.get(o["symbol"], 0.0) + signed
        if self.positions[o["symbol"]] == 0:
            del self.positions[o["symbol"]]
        self.activities.append({
            "id": f"20240102153000000::{uuid.uuid4()}", "account_id": ACCOUNT_ID,
            "activity_type": "FILL", "transaction_time": _now(),
            "type": "fill" if o["status"] == "filled" else "partial_fill",
            "price": str(price), "qty": str(quantity), "side": o["side"],
            "symbol": o["symbol"], "leaves_qty": str(o["qty"] - total), "order_id": o["id"],
            "cum_qty": str(total), "order_status": o["status"]})

    def fill_rest(self, client_order_id: str) -> None:
        """Fill what is left of an order (after a partial fill or a resting limit)."""
        with self.lock:
            o = self.orders[client_order_id]
            self._execute(o, o["qty"] - o["filled_qty"])

    def place(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("client_order_id") in self.orders:
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        symbol = body["symbol"]
        if symbol in self.reject_symbols or symbol not in self.prices:
            return 403, {"code": 40310000, "message": f"asset {symbol} is not tradable"}
        qty = float(body["qty"])
        o = {"id": str(uuid.uuid4()), "client_order_id": body["client_order_id"],
             "symbol": symbol, "qty": qty, "filled_qty": 0.0, "avg": 0.0,
             "side": body["side"], "type": body["type"], "time_in_force": body["time_in_force"],
             "limit_price": float(body["limit_price"]) if body.get("limit_price") else None,
             "status": "new"}
        self.orders[o["client_order_id"]] = o
        self.posted_orders += 1
        if self.fill_mode == "fill":
            self._execute(o, qty)
        elif self.fill_mode == "partial":
            self._execute(o, qty / 2)
        return 200, self._order_json(o)

    # ------------------------------------------------------------------ HTTP
    def _take_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            for i, (m, prefix, action) in enumerate(self.faults):
                if m == method and path.startswith(prefix):
                    del self.faults[i]
                    return action
        return None

    def _route(self, method: str, path: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            if path == "/v2/account":
                return 200, {"id": ACCOUNT_ID, "account_number": "PA3FAKE", "status": "ACTIVE",
                             "currency": "USD", "cash": "100000", "portfolio_value": "100000",
                             "buying_power": "200000", "equity": "100000"}
            if path == "/v2/clock":
                return 200, {"timestamp": _now(), "is_open": True,
                             "next_open": "2024-01-03T14:30:00Z",
                             "next_close": "2024-01-02T21:00:00Z"}
            if path == "/v2/positions":
                return 200, [self._position_json(s, q) for s, q in sorted(self.positions.items())]
            if path == "/v2/orders:by_client_order_id":
                o = self.orders.get(query.get("client_order_id", [""])[0])
                return (200, self._order_json(o)) if o else (404, {"code": 40410000,
                                                                   "message": "order not found"})
            if path == "/v2/orders" and method == "POST":
                return self.place(body)
            if path == "/v2/orders" and method == "GET":
                status = query.get("status", ["open"])[0]
                chosen = [o for o in self.orders.values()
                          if status == "all" or (o["status"] in OPEN_STATES) == (status == "open")]
                return 200, [self._order_json(o) for o in chosen]
            if path.startswith("/v2/orders/"):
                by_id = {o["id"]: o for o in self.orders.values()}
                o = by_id.get(path.rsplit("/", 1)[1])
                if o is None:
                    return 404, {"code": 40410000, "message": "order not found"}
                if method == "DELETE":
                    if o["status"] not in OPEN_STATES:
                        return 422, {"code": 42210000, "message": "order is not cancelable"}
                    o["status"] = "canceled"
                    return 204, None
                return 200, self._order_json(o)
            if path == "/v2/account/activities/FILL":
                rows = list(self.activities)
                token = query.get("page_token", [None])[0]
                if token is not None:
                    ids = [r["id"] for r in rows]
                    rows = rows[ids.index(token) + 1:]
                return 200, rows[: int(query.get("page_size", ["100"])[0])]
        return 404, {"code": 40400000, "message": f"no route {method} {path}"}

    def _position_json(self, symbol: str, qty: float) -> dict[str, Any]:
        price = self.prices.get(symbol, 1.0)
        return {"asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": symbol,
                "exchange": "NASDAQ", "asset_class": "us_equity", "avg_entry_price": str(price),
                "qty": str(qty), "side": "long" if qty > 0 else "short",
                "market_value": str(qty * price), "cost_basis": str(qty * price),
                "qty_available": str(qty)}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self, method: str) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                fake.requests.append((method, parsed.path))
                if not self.headers.get("APCA-API-KEY-ID"):
                    self._answer(401, {"code": 40110000, "message": "unauthorized"})
                    return
                fault = fake._take_fault(method, parsed.path)
                if fault in ("500", "503", "429", "504"):
                    self._answer(int(fault), {"code": int(fault) * 100000,
                                              "message": f"injected {fault}"})
                    return
                if fault == "drop":
                    self.close_connection = True
                    return
                status, payload = fake._route(method, parsed.path, parse_qs(parsed.query), body)
                if fault == "accept_then_drop":
                    self.close_connection = True
                    return
                if fault == "accept_then_sleep":   # the client times out first
                    time.sleep(fake.sleep_s)
                if fault == "duplicate_fills" and isinstance(payload, list):
                    payload = payload + payload
                self._answer(status, payload)

            def _answer(self, status: int, payload: Any) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
