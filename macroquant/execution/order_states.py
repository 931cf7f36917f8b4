"""The order state machine: which status may follow which (pure).

::

    new ──► submitted ──► partially_filled ──► filled
     │          │    └──────────┬──────────────► cancelled / expired
     │          └──► rejected   │
     └──► rejected / cancelled (never sent: gate refused it, or trading halted)

    new / submitted / partially_filled ──► unknown ──► any state the broker then reports

``unknown``: the broker accepted the order but its report (fills) could not be read; the
next run looks the order up at the broker and moves it on (it is an open state).

``partially_filled`` may repeat (more fills). Terminal states never change. A broker report
may skip ``submitted`` (an order that fills at once goes new → filled), so every forward
move along the arrows is legal; nothing moves backwards.
"""

from __future__ import annotations

from macroquant.errors import MacroQuantError

OPEN_STATES = ("new", "submitted", "partially_filled", "unknown")
TERMINAL_STATES = ("filled", "cancelled", "rejected", "expired")

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"submitted", "partially_filled", "filled", "cancelled", "rejected",
                      "expired", "unknown"}),
    "submitted": frozenset({"partially_filled", "filled", "cancelled", "rejected", "expired",
                            "unknown"}),
    "partially_filled": frozenset({"partially_filled", "filled", "cancelled", "expired",
                                   "unknown"}),
    "unknown": frozenset({"submitted", "partially_filled", "filled", "cancelled", "rejected",
                          "expired"}),
    "filled": frozenset(),
    "cancelled": frozenset(),
    "rejected": frozenset(),
    "expired": frozenset(),
}


class IllegalTransitionError(MacroQuantError):
    """An order status change the state machine does not allow."""


def check_transition(client_order_id: str, current: str, target: str) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> target`` is allowed."""
    if current not in TRANSITIONS or target not in TRANSITIONS:
        raise IllegalTransitionError(
            f"order {client_order_id}: unknown status {current!r} or {target!r}")
    if target not in TRANSITIONS[current]:
        raise IllegalTransitionError(
            f"order {client_order_id}: illegal transition {current} -> {target} "
            f"(allowed from {current}: {sorted(TRANSITIONS[current]) or 'none, it is final'})")


def status_after_fills(quantity: float, filled: float, broker_status: str) -> str:
    """The status an order should have once ``filled`` of ``quantity`` is known filled."""
    if filled >= quantity - 1e-9:
        return "filled"
    if broker_status in ("cancelled", "expired", "rejected"):
        return broker_status
    return "partially_filled" if filled > 0 else "submitted"
