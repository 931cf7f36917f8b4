"""Alpha Vantage adapter: daily adjusted equities, FX daily bars, US economic indicators.

The client's permanent error for the vendor's daily-limit answer is raised as
:class:`~macroquant.sources.quota.QuotaExhaustedError`, so that fetch control marks the
day's quota used up and makes no further request that day."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import partial
from typing import Any, TypeVar

import pandas as pd
import psycopg

from macroquant.db.bulk import upsert_rows
from macroquant.errors import MissingCredentialError, SourceError
from macroquant.sources.alpha_vantage import client, parse
from macroquant.sources.alpha_vantage.config import (
    CREDENTIALS_REF,
    DAILY_LIMIT_MESSAGE,
    DATA_SOURCES,
    DEFAULT_SYMBOLS,
    ECONOMIC_SERIES,
    ECONOMIC_SOURCE_ID,
    FX_PREFIX,
    SOURCE_ID,
    AlphaVantageOptions,
)
from macroquant.sources.fetch import register_source
from macroquant.sources.quota import QuotaExhaustedError

__all__ = ["SOURCE_ID", "fetch_bars", "fetch_observations", "quota_requests", "register"]

T = TypeVar("T")


def register(conn: psycopg.Connection) -> None:
    """Insert both data_sources rows (disabled) and the economic series."""
    for row in DATA_SOURCES:
        register_source(conn, row)
    series = pd.DataFrame([s.model_dump(include={"series_id", "name", "frequency", "units",
                                                 "publication_lag_days", "notes"})
                           for s in ECONOMIC_SERIES])
    series["source_id"] = ECONOMIC_SOURCE_ID
    upsert_rows(conn, "economic_series", series, ["series_id"],
                ["name", "frequency", "units", "source_id", "publication_lag_days", "notes"])


def _key(api_key: str | None) -> str:
    if not api_key:
        raise MissingCredentialError(
            f"Alpha Vantage needs an API key: store it with 'macroquant secrets set "
            f"{CREDENTIALS_REF}' or set the environment variable {CREDENTIALS_REF}")
    return api_key


def _vendor(call: Callable[[], T]) -> T:
    """``call()``, with the vendor's daily-limit answer raised as QuotaExhaustedError."""
    try:
        return call()
    except QuotaExhaustedError:
        raise
    except SourceError as error:
        text = str(error)
        if error.transient or not DAILY_LIMIT_MESSAGE.search(text):
            raise
        raise QuotaExhaustedError(error.source_id, text.removeprefix(
            f"source '{error.source_id}': ")) from error


def _bars(symbol: str, vendor: str, key: str, options: AlphaVantageOptions) -> pd.DataFrame:
    if vendor.startswith(FX_PREFIX):
        base, _, quote = vendor.removeprefix(FX_PREFIX).partition("/")
        return parse.bars_from_fx_daily(symbol, _vendor(lambda: client.fx_daily(
            base, quote, key, options.outputsize)))
    return parse.bars_from_daily_adjusted(symbol, _vendor(lambda: client.daily_adjusted(
        vendor, key, options.outputsize)))


def quota_requests(hook_name: str, args: Sequence[Any], config: Mapping[str, Any]) -> int:
    """The HTTP requests one call of ``hook_name`` makes (fetch control counts them against
    the daily quota): one per symbol for bars, one per indicator for observations."""
    if hook_name == "fetch_observations":
        return len(ECONOMIC_SERIES)
    if hook_name == "fetch_bars":
        symbols = args[2] if len(args) > 2 else None
        if symbols is None:
            options = AlphaVantageOptions.model_validate(config or {})
            return max(1, len({**DEFAULT_SYMBOLS, **options.symbols}))
        return max(1, len(symbols))
    return 1


def fetch_bars(start: date, end: date, symbols: Sequence[str] | None = None, *,
               api_key: str | None = None,
               config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Daily bars with ``start <= trade_date <= end``. A vendor symbol ``FX:EUR/USD`` is
    read from FX_DAILY, any other from TIME_SERIES_DAILY_ADJUSTED."""
    key = _key(api_key)
    options = AlphaVantageOptions.model_validate(config or {})
    mapping = {**DEFAULT_SYMBOLS, **options.symbols}
    wanted = list(symbols) if symbols is not None else list(mapping)
    frames = [_bars(symbol, mapping.get(symbol, symbol), key, options) for symbol in wanted]
    if not frames:
        return pd.DataFrame(columns=parse.BAR_COLUMNS)
    bars = pd.concat(frames, ignore_index=True)
    dates = bars["trade_date"]
    return bars.loc[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))].reset_index(
        drop=True)


def fetch_observations(start: date | None = None, end: date | None = None, *,
                       api_key: str | None = None,
                       config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every configured indicator, observations dated by publication lag; rows with
    ``start <= observation_date <= end`` when those are given."""
    key = _key(api_key)
    frames = []
    for spec in ECONOMIC_SERIES:
        points = _vendor(partial(client.indicator, spec.method, spec.interval, key))
        frames.append(parse.observations_from_indicator(
            spec.series_id, points, spec.frequency, spec.publication_lag_days))
    observations = pd.concat(frames, ignore_index=True)
    dates = observations["observation_date"]
    keep = pd.Series(True, index=observations.index)
    if start is not None:
        keep &= dates >= pd.Timestamp(start)
    if end is not None:
        keep &= dates <= pd.Timestamp(end)
    observations = observations.loc[keep].reset_index(drop=True)
    observations["vintage_kind"] = "publication_lag"
    observations["source_id"] = ECONOMIC_SOURCE_ID
    return observations
