"""Crypto exchanges through ``ccxt`` (Coinbase Advanced Trade by default; any ccxt
exchange by configuration)."""

from macroquant.brokers import lazy_client
from macroquant.brokers.ccxt_broker.config import CcxtConfig

# the client (and the vendor library) loads on first use, not when the config is read
__getattr__ = lazy_client("macroquant.brokers.ccxt_broker.client", "CcxtBroker")

__all__ = ["CcxtBroker", "CcxtConfig"]
