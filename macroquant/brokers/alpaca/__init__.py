"""Alpaca (``alpaca-py`` TradingClient); the paper endpoint unless ``paper: false``."""

from macroquant.brokers.alpaca.client import AlpacaBroker
from macroquant.brokers.alpaca.config import AlpacaConfig

__all__ = ["AlpacaBroker", "AlpacaConfig"]
