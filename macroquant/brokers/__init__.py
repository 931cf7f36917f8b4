"""Broker adapters behind one order interface (:mod:`macroquant.brokers.interface`).

One subpackage per broker with the same files (``config.py``, ``client.py``,
``parse.py``); ``_template/`` says which hooks a new broker must provide.
:func:`macroquant.brokers.registry.make_broker` builds one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_client(module: str, name: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``module.name`` on first use, so that reading
    an adapter's config (the trading configuration checks broker options on load) does not
    import the vendor's client library."""

    def __getattr__(attribute: str) -> object:
        if attribute == name:
            return getattr(import_module(module), name)
        raise AttributeError(attribute)

    return __getattr__
