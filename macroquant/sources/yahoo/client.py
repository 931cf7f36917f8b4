"""Calls Yahoo's chart API through ``yfinance`` and returns its frames with Yahoo's columns
(``Open, High, Low, Close, Adj Close, Volume, Dividends, Stock Splits``), indexed by the bar's
start time in the exchange's time zone.

yfinance hides its errors by default (it logs and returns an empty frame); here they are
raised and mapped to :class:`SourceError`: HTTP 429 → :class:`RateLimitedError`, HTTP 5xx,
timeouts and resets → transient, anything else (unknown ticker: HTTP 404) → permanent. The
HTTP status is read from the session, which records the status of its last response. A
HTTP 200 that carries no bars (a window with no session) is an empty frame, not an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import requests
import yfinance as yf
from yfinance.config import YfConfig
from yfinance.data import YfData
from yfinance.exceptions import YFException, YFRateLimitError

from macroquant.errors import SourceError
from macroquant.sources.fetch import RateLimitedError
from macroquant.sources.yahoo.config import SOURCE_ID

VENDOR_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends",
                  "Stock Splits"]


class _StatusRecorder:
    """Session mix-in remembering the HTTP status of the last response."""

    last_status: int | None = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)  # type: ignore[misc]
        self.last_status = response.status_code
        return response


class RequestsSession(_StatusRecorder, requests.Session):
    """A plain ``requests`` session (replayable with the ``responses`` library)."""


def new_session(http_backend: str) -> Any:
    """A status-recording session of the chosen backend (curl_cffi is yfinance's default:
    it presents a browser's TLS fingerprint, which Yahoo throttles less)."""
    if http_backend == "requests":
        return RequestsSession()
    from curl_cffi import requests as curl_requests

    class CurlSession(_StatusRecorder, curl_requests.Session):
        pass

    return CurlSession(impersonate="chrome")


@contextmanager
def _raising_errors() -> Iterator[None]:
    """yfinance's process-wide switch, turned to raising for the duration of one call."""
    previous = YfConfig.debug.hide_exceptions
    YfConfig.debug.hide_exceptions = False
    try:
        yield
    finally:
        YfConfig.debug.hide_exceptions = previous


def _source_error(vendor_symbol: str, error: Exception, status: int | None) -> SourceError:
    what = f"{vendor_symbol}: {type(error).__name__}: {error}"
    if isinstance(error, YFRateLimitError) or status == 429:
        return RateLimitedError(SOURCE_ID, f"rate limited (HTTP 429) on {what}")
    if status is not None and status >= 500:
        return SourceError(SOURCE_ID, f"HTTP {status} on {what}", transient=True, status=status)
    if status is not None and status >= 400:  # requests' HTTPError is an OSError too
        return SourceError(SOURCE_ID, f"HTTP {status} on {what}", transient=False,
                           status=status)
    if isinstance(error, OSError | TimeoutError):
        return SourceError(SOURCE_ID, f"network error on {what}", transient=True)
    return SourceError(SOURCE_ID, f"HTTP {status} on {what}", transient=False, status=status)


def chart_history(vendor_symbol: str, start: date | datetime, end: date | datetime, *,
                  interval: str = "1d", http_backend: str = "curl_cffi",
                  timeout: float = 20.0) -> pd.DataFrame:
    """Yahoo's bars of ``vendor_symbol`` from ``start`` to ``end`` (both inclusive for
    dates; ``end`` exclusive for datetimes), unadjusted, with dividends and splits."""
    session = new_session(http_backend)
    ticker = yf.Ticker(vendor_symbol, session=session)
    stop = end + timedelta(days=1) if not isinstance(end, datetime) else end
    YfData.cache_get.cache_clear()  # a retry must ask Yahoo again, not yfinance's cache
    try:
        with _raising_errors():
            frame = ticker.history(start=start, end=stop, interval=interval, actions=True,
                                   auto_adjust=False, repair=False, timeout=timeout)
    except (YFException, OSError, TimeoutError, ValueError, KeyError) as error:
        status = session.last_status
        if status == 200 and "no price data found" in str(error).lower():
            return pd.DataFrame(columns=VENDOR_COLUMNS, index=pd.DatetimeIndex([]))
        raise _source_error(vendor_symbol, error, status) from error
    return frame.reindex(columns=VENDOR_COLUMNS)
