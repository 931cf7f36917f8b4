"""CCXT adapter: crypto daily (and intraday) candles from Coinbase or any ccxt exchange."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import psycopg

from macroquant.sources.ccxt_exchange import client, parse
from macroquant.sources.ccxt_exchange.config import (
    DATA_SOURCE,
    DEFAULT_SYMBOLS,
    SOURCE_ID,
    CcxtOptions,
)
from macroquant.sources.fetch import register_source

__all__ = ["SOURCE_ID", "fetch_bars", "fetch_intraday_bars", "register"]


def register(conn: psycopg.Connection) -> None:
    """Insert the ``coinbase`` data_sources row (disabled until a person enables it).
    Another exchange is another row with this adapter and ``config.exchange_id``."""
    register_source(conn, DATA_SOURCE)


def _wanted(symbols: Sequence[str] | None, options: CcxtOptions) -> list[tuple[str, str]]:
    mapping = {**DEFAULT_SYMBOLS, **options.symbols}
    wanted = list(symbols) if symbols is not None else list(mapping)
    return [(symbol, mapping.get(symbol, symbol)) for symbol in wanted]


def fetch_bars(start: date, end: date, symbols: Sequence[str] | None = None, *,
               config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Daily bars for the UTC days ``start..end``."""
    options = CcxtOptions.model_validate(config or {})
    exchange = client.exchange_for(options)
    first = datetime.combine(start, time(), tzinfo=UTC)
    stop = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    frames = [parse.daily_bars(symbol, client.ohlcv(
        exchange, options.exchange_id, market, options.timeframe, first, stop,
        options.candles_per_request)) for symbol, market in _wanted(symbols, options)]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=parse.BAR_COLUMNS))


def fetch_intraday_bars(start: datetime, end: datetime, symbols: Sequence[str] | None = None,
                        *, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Intraday candles (``config.intraday_timeframe``, default 5m) opening in
    ``[start, end)``."""
    options = CcxtOptions.model_validate(config or {})
    exchange = client.exchange_for(options)
    frames = [parse.intraday_bars(symbol, client.ohlcv(
        exchange, options.exchange_id, market, options.intraday_timeframe, start, end,
        options.candles_per_request)) for symbol, market in _wanted(symbols, options)]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=parse.INTRADAY_COLUMNS))
