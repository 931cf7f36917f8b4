"""Template of a data source adapter: copy this folder to ``sources/<name>/`` and add
``<name>`` to ``macroquant.sources.ADAPTERS``.

Every adapter has the same files and exposes the same hooks from its ``__init__``:

- ``config.py``: a frozen, typed, ``extra="forbid"`` options model, the adapter's
  ``DATA_SOURCE`` row (source_id, kind, adapter, description, credentials_ref = the NAME
  of a secret, rate_limit_per_minute, priority, enabled, config) and any default symbol map.
- ``client.py``: talks to the vendor through its client library and returns the vendor's
  payload as typed records with the vendor's own field names. It turns every vendor failure
  into :class:`macroquant.errors.SourceError` (``transient=True`` for HTTP 429/5xx,
  timeouts and connection resets; :class:`macroquant.sources.fetch.RateLimitedError` when the
  vendor says how long to wait). No domain logic, no database.
- ``parse.py``: one function per dataset from vendor records to MacroQuant rows.

Hooks (module-level functions of ``__init__.py``):

``register(conn) -> None``
    Upsert the ``data_sources`` row. Network vendors register disabled; a person enables
    them (``macroquant sources enable NAME``) once a key, if one is needed, is stored.

``fetch_bars(start, end, symbols=None, *, api_key=None, config=None) -> DataFrame``
    Market data sources: daily bars with ``start <= trade_date <= end`` and the columns
    ``symbol, trade_date, open, high, low, close, adj_close, volume`` (``symbol`` is the
    MacroQuant symbol). ``config["symbols"]`` maps a MacroQuant symbol to the vendor's.

``fetch_observations(start, end, *, api_key=None, config=None) -> DataFrame``
    Economic sources: ``series_id, observation_date, realtime_start, value, vintage_kind,
    source_id``.

``quota_requests(hook_name, args, config) -> int`` (optional)
    How many vendor requests one call of a hook makes, when that is more than one (one per
    symbol, one per series): fetch control counts them against the row's
    ``daily_request_limit`` (docs/data-sources.md, "Daily request quotas").

The keyword arguments are optional: the fetch controller (``macroquant.sources.fetch``)
passes ``api_key`` (the value of the row's ``credentials_ref`` secret) and ``config`` (the
row's ``config`` object) only to hooks that declare them, and wraps every call in the
source's rate limit, retries and fallback. A hook never sleeps or retries by itself.

Tests replay recorded vendor payloads through the real client library; never the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd
import psycopg

from macroquant.sources._template import client, parse
from macroquant.sources._template.config import DATA_SOURCE, SOURCE_ID, TemplateOptions
from macroquant.sources.fetch import register_source

__all__ = ["SOURCE_ID", "fetch_bars", "register"]


def register(conn: psycopg.Connection) -> None:
    """Insert this source's ``data_sources`` row (see :func:`register_source`)."""
    register_source(conn, DATA_SOURCE)


def fetch_bars(start: date, end: date, symbols: Sequence[str] | None = None, *,
               api_key: str | None = None,
               config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Daily bars of ``symbols`` (default: the configured symbol map) in ``start..end``."""
    options = TemplateOptions.model_validate(config or {})
    wanted = list(symbols) if symbols is not None else list(options.symbols)
    frames = [parse.bars_from_records(symbol, client.daily_bars(
        options.symbols.get(symbol, symbol), start, end, api_key=api_key))
        for symbol in wanted]
    if not frames:
        return pd.DataFrame(columns=parse.BAR_COLUMNS)
    return pd.concat(frames, ignore_index=True)
