"""The built-in paper broker behind the order interface (default; needs no credentials)."""

from macroquant.brokers import lazy_client
from macroquant.brokers.paper.config import PaperConfig

# the client (and the vendor library) loads on first use, not when the config is read
__getattr__ = lazy_client("macroquant.brokers.paper.client", "PaperAccountBroker")

__all__ = ["PaperAccountBroker", "PaperConfig"]
