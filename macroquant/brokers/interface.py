"""The one order interface every broker adapter implements (DESIGN §5).

Records are in MacroQuant's vocabulary: sides ``buy``/``sell``, order states of the OMS
(``submitted``, ``partially_filled``, ``filled``, ``cancelled``, ``rejected``, ``expired``),
instrument symbols as in ``instruments.symbol``. Each adapter's ``parse.py`` converts the
vendor's fields to these records in one place.

Errors: a call that fails raises :class:`macroquant.errors.BrokerError` with ``transient``
set for timeouts, connection resets, HTTP 429 and 5xx (the outcome of the call is then
UNKNOWN: the order may or may not exist); a rejection of the order itself raises
:class:`OrderRejected`. No method ever returns "nothing" for a report it could not get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from macroquant.errors import BrokerError

Side = Literal["buy", "sell"]
BrokerStatus = Literal["submitted", "partially_filled", "filled", "cancelled", "rejected",
                       "expired"]


class OrderRejected(BrokerError):
    """The broker refused the order (not transient; the reason is the broker's)."""

    def __init__(self, broker: str, client_order_id: str, reason: str) -> None:
        self.client_order_id = client_order_id
        self.reason = reason
        super().__init__(broker, f"order {client_order_id} rejected: {reason}", transient=False)


@dataclass(frozen=True)
class OrderRequest:
    """An order to send; built only by the OMS from a risk-approved order."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    order_type: Literal["market", "limit"] = "market"
    limit_price: float | None = None
    time_in_force: Literal["day", "gtc", "ioc"] = "day"
    reference_price: float | None = None   # last known price (the paper broker fills at it)


@dataclass(frozen=True)
class BrokerOrder:
    """The broker's view of one order."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: float
    filled_quantity: float
    average_fill_price: float | None
    status: BrokerStatus
    reason: str = ""
    order_type: str | None = None   # 'market' / 'limit'; None: the broker did not say


@dataclass(frozen=True)
class BrokerFill:
    """One execution; ``execution_id`` is unique per broker (duplicates are ignored)."""

    execution_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    fee: float
    fee_currency: str
    executed_at: datetime


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    quantity: float   # signed: short positions are negative


@runtime_checkable
class Broker(Protocol):
    """What the OMS and the reconciliation need from a broker."""

    name: str
    asset_classes: frozenset[str]   # the instruments' asset classes this account can trade

    def submit_order(self, request: OrderRequest) -> BrokerOrder:
        """Send one order. Raises OrderRejected, or BrokerError (transient: outcome unknown)."""
        ...

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client order id, or None when the broker has no such order."""
        ...

    def open_orders(self) -> list[BrokerOrder]:
        """Every order still working at the broker."""
        ...

    def recent_orders(self) -> list[BrokerOrder]:
        """Every order the broker lists, open or final (its recent history)."""
        ...

    def cancel_order(self, client_order_id: str) -> None:
        """Ask the broker to cancel; the final state is read back with get_order."""
        ...

    def fills(self, client_order_ids: list[str]) -> list[BrokerFill]:
        """Every execution of these orders (repeats allowed; ids make them idempotent)."""
        ...

    def positions(self) -> list[BrokerPosition]:
        """Every non-zero position of the account."""
        ...
