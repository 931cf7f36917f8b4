"""Template of a broker adapter: copy this folder to ``macroquant/brokers/<name>/``.

Required hooks (same names in every adapter):

- ``config.py``: ``<Name>Config`` — a frozen pydantic model (``extra="forbid"``) with the
  non-secret settings and the NAMES of the secrets it needs (``*_secret`` fields), plus
  ``credentials(config, lookup) -> dict`` raising ``MissingCredentialError`` naming the secret.
- ``parse.py``: pure functions from the vendor's payload (typed records mirroring its
  fields) to :mod:`macroquant.brokers.interface` records: ``order_status``, ``to_order``,
  ``to_fills``, ``to_positions``, ``to_broker_symbol`` / ``from_broker_symbol``.
- ``client.py``: ``<Name>Broker`` implementing :class:`macroquant.brokers.interface.Broker`
  (``submit_order``, ``get_order``, ``open_orders``, ``cancel_order``, ``fills``,
  ``positions``), translating every vendor exception into ``BrokerError`` (``transient`` for
  timeouts, connection errors, HTTP 429/5xx) or ``OrderRejected``.

Then add the name to :data:`macroquant.brokers.registry.BROKERS`.
"""
