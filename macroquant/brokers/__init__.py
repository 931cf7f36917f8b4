"""Broker adapters behind one order interface (:mod:`macroquant.brokers.interface`).

One subpackage per broker with the same files (``config.py``, ``client.py``,
``parse.py``); ``_template/`` says which hooks a new broker must provide.
:func:`macroquant.brokers.registry.make_broker` builds one by name.
"""
