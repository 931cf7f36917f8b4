"""Template of a broker adapter: copy this folder to ``macroquant/brokers/<name>/``.

Required hooks (same names in every adapter):

- ``config.py``: ``<Name>Config`` — a frozen pydantic model (``extra="forbid"``) with the
  non-secret settings, the NAMES of the secrets it needs (``*_secret`` fields),
  ``symbol_map`` and ``asset_classes`` (default from
  :data:`macroquant.brokers.tradability.DEFAULT_ASSET_CLASSES`), plus
  ``credentials(config, lookup) -> dict`` raising ``MissingCredentialError`` naming the secret.
  Add an example options file, every key with its default, as ``include/brokers/<name>.yaml``
  and the keys to docs/execution.md ("Broker options").
- ``parse.py``: pure functions from the vendor's payload (typed records mirroring its
  fields) to :mod:`macroquant.brokers.interface` records: ``order_status``, ``to_order``,
  ``to_fills``, ``to_positions``, ``to_broker_symbol`` / ``from_broker_symbol``.
- ``client.py``: ``<Name>Broker`` implementing :class:`macroquant.brokers.interface.Broker`
  (``submit_order``, ``get_order``, ``open_orders``, ``recent_orders``, ``cancel_order``,
  ``fills``, ``positions``; ``asset_classes`` from its config; ``order_type`` on its order
  reports when the vendor says it), translating every vendor exception into
  ``BrokerError`` (``transient`` for timeouts, connection errors, HTTP 429/5xx) or
  ``OrderRejected``.

Then add the name to :data:`macroquant.brokers.registry.BROKERS` and its entry to
``_ADAPTERS`` there, and to ``DEFAULT_ASSET_CLASSES``.
"""
