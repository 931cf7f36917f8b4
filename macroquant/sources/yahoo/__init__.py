"""Yahoo Finance adapter (``yfinance``): daily bars, intraday bars, splits and dividends."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import psycopg

from macroquant.sources.fetch import register_source
from macroquant.sources.yahoo import client, parse
from macroquant.sources.yahoo.config import DATA_SOURCE, DEFAULT_SYMBOLS, SOURCE_ID, YahooOptions

__all__ = ["SOURCE_ID", "fetch_bars", "fetch_corporate_actions", "fetch_intraday_bars",
           "register"]


def register(conn: psycopg.Connection) -> None:
    """Insert the ``yahoo`` data_sources row (disabled until a person enables it)."""
    register_source(conn, DATA_SOURCE)


def _per_symbol(symbols: Sequence[str] | None, config: Mapping[str, Any] | None,
                fetch: Callable[[str, str, YahooOptions], pd.DataFrame],
                empty_columns: list[str]) -> pd.DataFrame:
    options = YahooOptions.model_validate(config or {})
    mapping = {**DEFAULT_SYMBOLS, **options.symbols}
    wanted = list(symbols) if symbols is not None else list(mapping)
    frames = [fetch(symbol, mapping.get(symbol, symbol), options) for symbol in wanted]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=empty_columns)


def fetch_bars(start: date, end: date, symbols: Sequence[str] | None = None, *,
               config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Daily bars with ``start <= trade_date <= end`` (default symbols: the bundled map)."""
    def one(symbol: str, vendor: str, options: YahooOptions) -> pd.DataFrame:
        frame = client.chart_history(vendor, start, end, http_backend=options.http_backend,
                                     timeout=options.timeout_seconds)
        return parse.daily_bars(symbol, frame)

    bars = _per_symbol(symbols, config, one, parse.BAR_COLUMNS)
    dates = pd.to_datetime(bars["trade_date"])
    return bars.loc[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))].reset_index(
        drop=True)


def fetch_corporate_actions(start: date, end: date, symbols: Sequence[str] | None = None, *,
                            config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Splits and dividends with ex-date in ``start..end``: columns ``symbol, ex_date,
    action ('split' | 'dividend'), value`` (split: new/old ratio; dividend: cash/share)."""
    def one(symbol: str, vendor: str, options: YahooOptions) -> pd.DataFrame:
        frame = client.chart_history(vendor, start, end, http_backend=options.http_backend,
                                     timeout=options.timeout_seconds)
        return parse.corporate_actions(symbol, frame)

    return _per_symbol(symbols, config, one, parse.ACTION_COLUMNS)


def fetch_intraday_bars(start: datetime, end: datetime, symbols: Sequence[str] | None = None,
                        *, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Intraday bars (``config.intraday_interval``, default 5m) starting in
    ``[start, end)``: ``symbol, bar_time (UTC), open, high, low, close, volume``."""
    def one(symbol: str, vendor: str, options: YahooOptions) -> pd.DataFrame:
        frame = client.chart_history(vendor, start, end, interval=options.intraday_interval,
                                     http_backend=options.http_backend,
                                     timeout=options.timeout_seconds)
        return parse.intraday_bars(symbol, frame)

    return _per_symbol(symbols, config, one, parse.INTRADAY_COLUMNS)
