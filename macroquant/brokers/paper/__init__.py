"""The built-in paper broker behind the order interface (default; needs no credentials)."""

from macroquant.brokers.paper.client import PaperAccountBroker
from macroquant.brokers.paper.config import PaperConfig

__all__ = ["PaperAccountBroker", "PaperConfig"]
