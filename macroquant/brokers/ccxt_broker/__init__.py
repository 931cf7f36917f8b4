"""Crypto exchanges through ``ccxt`` (Coinbase Advanced Trade by default; any ccxt
exchange by configuration)."""

from macroquant.brokers.ccxt_broker.client import CcxtBroker
from macroquant.brokers.ccxt_broker.config import CcxtConfig

__all__ = ["CcxtBroker", "CcxtConfig"]
