"""Interactive Brokers through ``ib_async`` (TWS or IB Gateway; paper port by default)."""

from macroquant.brokers import lazy_client
from macroquant.brokers.ibkr.config import IbkrConfig

# the client (and the vendor library) loads on first use, not when the config is read
__getattr__ = lazy_client("macroquant.brokers.ibkr.client", "IbkrBroker")

__all__ = ["IbkrBroker", "IbkrConfig"]
