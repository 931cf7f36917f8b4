"""Template for a data source adapter. Copy this folder to ``sources/<name>/``.

Every adapter has the same files and exposes the same hooks from its ``__init__``:

- ``config.py``: a frozen, typed, ``extra="forbid"`` config model and the adapter's
  ``DATA_SOURCE`` row (source_id, kind, adapter, description, credentials_ref NAME, limits)
  and, for market data, its ``INSTRUMENTS``.
- ``client.py``: talks to the vendor (HTTP client, SDK, or files) and returns the vendor's
  payload parsed into typed records that mirror the vendor's own field names. No domain
  logic, no database.
- ``parse.py``: one function per dataset converting vendor records into MacroQuant domain
  rows (a DataFrame with the staging table's columns).

Required hooks (module-level functions in ``__init__.py``):

- ``register(conn) -> None``: upsert the ``data_sources`` row and the instruments/series.
- ``fetch_bars(start: date, end: date) -> pandas.DataFrame``: daily bars with columns
  ``symbol, trade_date, open, high, low, close, adj_close, volume`` (market data sources).

Tests replay recorded vendor payloads through the real client library; never the network.
"""
