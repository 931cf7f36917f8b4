"""Calls Alpha Vantage through the ``alpha_vantage`` client (JSON output) and returns the
payloads as typed records with Alpha Vantage's own field names.

The client raises ``ValueError`` with the API's message for an ``Error Message``,
``Information`` or ``Note`` reply; they are mapped here: a per-minute "call frequency"
note → :class:`RateLimitedError` (retry after 60 s); the daily quota, a premium endpoint or
a bad request → permanent; a body that is not JSON (a 5xx page), timeouts and
connection errors → transient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import requests
from alpha_vantage.econindicators import EconIndicators
from alpha_vantage.foreignexchange import ForeignExchange
from alpha_vantage.timeseries import TimeSeries
from pydantic import BaseModel, ConfigDict, Field

from macroquant.errors import SourceError
from macroquant.sources.alpha_vantage.config import SOURCE_ID
from macroquant.sources.fetch import RateLimitedError

T = TypeVar("T")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class DailyAdjustedBar(_Record):
    """One day of TIME_SERIES_DAILY_ADJUSTED ("Time Series (Daily)")."""

    date: date
    open: float = Field(alias="1. open")
    high: float = Field(alias="2. high")
    low: float = Field(alias="3. low")
    close: float = Field(alias="4. close")
    adjusted_close: float = Field(alias="5. adjusted close")
    volume: float = Field(alias="6. volume")
    dividend_amount: float = Field(0.0, alias="7. dividend amount")
    split_coefficient: float = Field(1.0, alias="8. split coefficient")


class FxDailyBar(_Record):
    """One day of FX_DAILY ("Time Series FX (Daily)")."""

    date: date
    open: float = Field(alias="1. open")
    high: float = Field(alias="2. high")
    low: float = Field(alias="3. low")
    close: float = Field(alias="4. close")


class IndicatorPoint(_Record):
    """One point of an economic indicator's ``data`` list ("." where there is no value)."""

    date: date
    value: str


def _call(what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except requests.exceptions.JSONDecodeError as error:
        raise SourceError(SOURCE_ID, f"{what}: the reply is not JSON (server error?): {error}",
                          transient=True) from error
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        raise SourceError(SOURCE_ID, f"{what}: network error: {error}",
                          transient=True) from error
    except ValueError as error:
        text = str(error)
        lowered = text.lower()
        if "call frequency" in lowered or "per minute" in lowered or "per second" in lowered:
            raise RateLimitedError(SOURCE_ID, f"{what}: {text}", retry_after=60.0,
                                   status=None) from error
        # the daily quota does not come back within a retry's wait; premium is for good
        raise SourceError(SOURCE_ID, f"{what}: {text}", transient=False) from error


def daily_adjusted(symbol: str, api_key: str, outputsize: str = "compact"
                   ) -> list[DailyAdjustedBar]:
    """TIME_SERIES_DAILY_ADJUSTED of ``symbol``, oldest first."""
    client = TimeSeries(key=api_key, output_format="json")
    data, _meta = _call(f"TIME_SERIES_DAILY_ADJUSTED {symbol}",
                        lambda: client.get_daily_adjusted(symbol, outputsize=outputsize))
    return sorted((DailyAdjustedBar(date=day, **fields) for day, fields in data.items()),
                  key=lambda bar: bar.date)


def fx_daily(from_symbol: str, to_symbol: str, api_key: str, outputsize: str = "compact"
             ) -> list[FxDailyBar]:
    """FX_DAILY of ``from_symbol``/``to_symbol`` (price of one ``from`` in ``to``)."""
    client = ForeignExchange(key=api_key, output_format="json")
    data, _meta = _call(f"FX_DAILY {from_symbol}/{to_symbol}",
                        lambda: client.get_currency_exchange_daily(from_symbol, to_symbol,
                                                                   outputsize=outputsize))
    return sorted((FxDailyBar(date=day, **fields) for day, fields in data.items()),
                  key=lambda bar: bar.date)


def indicator(method: str, interval: str | None, api_key: str) -> list[IndicatorPoint]:
    """An economic indicator (``EconIndicators.<method>``): its ``data`` points."""
    client = EconIndicators(key=api_key, output_format="json")
    kwargs: dict[str, Any] = {"interval": interval} if interval else {}
    data, _meta = _call(method, lambda: getattr(client, method)(**kwargs))
    # the client turns the JSON ``data`` list into a DataFrame (date, value) even for json
    points = data.to_dict("records") if hasattr(data, "to_dict") else data
    return [IndicatorPoint(**point) for point in points]
