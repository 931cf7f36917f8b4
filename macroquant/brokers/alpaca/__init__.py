"""Alpaca (``alpaca-py`` TradingClient); the paper endpoint unless ``paper: false``."""

from macroquant.brokers import lazy_client
from macroquant.brokers.alpaca.config import AlpacaConfig

# the client (and the vendor library) loads on first use, not when the config is read
__getattr__ = lazy_client("macroquant.brokers.alpaca.client", "AlpacaBroker")

__all__ = ["AlpacaBroker", "AlpacaConfig"]
