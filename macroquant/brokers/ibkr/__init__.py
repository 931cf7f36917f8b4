"""Interactive Brokers through ``ib_async`` (TWS or IB Gateway; paper port by default)."""

from macroquant.brokers.ibkr.client import IbkrBroker
from macroquant.brokers.ibkr.config import IbkrConfig

__all__ = ["IbkrBroker", "IbkrConfig"]
