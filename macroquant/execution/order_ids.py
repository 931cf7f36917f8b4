"""Deterministic client order ids (pure): written before an order is sent, so a retried
send or a rerun finds the same order instead of placing a second one."""

from __future__ import annotations

from datetime import date

NETTED = "portfolio"


def client_order_id(as_of: date, symbol: str, sequence: int = 1, strategy: str = NETTED) -> str:
    """Deterministic id of the ``sequence``-th order of ``strategy`` in ``symbol`` on
    ``as_of``: ``MQ-YYYYMMDD-SYMBOL-N`` for netted orders, ``MQ-YYYYMMDD-STRATEGY-SYMBOL-N``
    for a strategy's own orders."""
    if strategy == NETTED:
        return f"MQ-{as_of:%Y%m%d}-{symbol}-{sequence}"
    return f"MQ-{as_of:%Y%m%d}-{strategy}-{symbol}-{sequence}"
