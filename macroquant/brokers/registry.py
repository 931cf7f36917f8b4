"""Build a broker adapter by name, with its secrets read from the encrypted store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from macroquant.brokers.interface import Broker
from macroquant.errors import ConfigError

BROKERS = ("paper", "alpaca", "ibkr", "ccxt")


def secret_lookup(conn: psycopg.Connection) -> Callable[[str], str | None]:
    """name -> decrypted secret, or None when no secret of that name is stored."""
    from macroquant.security.secrets import get_secret

    def lookup(name: str) -> str | None:
        exists = conn.execute("SELECT 1 FROM secrets WHERE name = %s", (name,)).fetchone()
        return get_secret(conn, name) if exists else None

    return lookup


def make_broker(name: str, options: dict[str, Any], lookup: Callable[[str], str | None],
                clock: Callable[[], datetime], *, ib: Any = None) -> Broker:
    """The adapter ``name`` configured by ``options`` (its config model's fields).

    A live broker whose secrets are missing raises ``MissingCredentialError`` naming the
    secret; the paper broker needs none. ``ib`` injects an ``ib_async.IB``-like client.
    """
    if name == "paper":
        from macroquant.brokers.paper import PaperAccountBroker, PaperConfig

        return PaperAccountBroker(PaperConfig(**options), clock)
    if name == "alpaca":
        from macroquant.brokers.alpaca import AlpacaBroker, AlpacaConfig

        return AlpacaBroker(AlpacaConfig(**options), lookup)
    if name == "ibkr":
        from macroquant.brokers.ibkr import IbkrBroker, IbkrConfig

        return IbkrBroker(IbkrConfig(**options), lookup, ib=ib)
    if name == "ccxt":
        from macroquant.brokers.ccxt_broker import CcxtBroker, CcxtConfig

        return CcxtBroker(CcxtConfig(**options), lookup)
    raise ConfigError("broker", "name", f"unknown broker {name!r}; one of {', '.join(BROKERS)}")
