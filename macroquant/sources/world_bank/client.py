"""World Bank API v2 through ``wbgapi`` (which pages with ``requests``).

``wbgapi.fetch`` is the client's generic paged reader of the v2 API; it is pointed at
``config.api_url`` through the module's ``endpoint`` setting for the duration of one call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
import wbgapi

from macroquant.economics.vendors import http_failure
from macroquant.errors import SourceError
from macroquant.sources.world_bank.config import SOURCE_ID


@dataclass(frozen=True)
class WdiObservation:
    """One element of the v2 answer's data list (fields as the API names them)."""

    indicator: str
    countryiso3code: str
    date: str
    value: float | None


@contextmanager
def _endpoint(api_url: str) -> Iterator[None]:
    previous = wbgapi.endpoint
    wbgapi.endpoint = api_url.rstrip("/")
    try:
        yield
    finally:
        wbgapi.endpoint = previous


def fetch_indicator(api_url: str, indicator: str, economy: str,
                    years: tuple[int, int] | None) -> list[WdiObservation]:
    """Every year of ``indicator`` for ``economy`` (``years``: first and last, inclusive)."""
    params = {"date": f"{years[0]}:{years[1]}"} if years else {}
    try:
        with _endpoint(api_url):
            rows = list(wbgapi.fetch(f"country/{economy}/indicator/{indicator}", params))
    except wbgapi.APIError as exc:
        if exc.code is not None:
            raise http_failure(SOURCE_ID, int(exc.code), f"{indicator} {economy}: {exc.msg}"
                               ) from None
        raise SourceError(SOURCE_ID, f"{indicator} {economy}: {exc.msg}",
                          transient=False) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise SourceError(SOURCE_ID, f"cannot reach {api_url}: {exc}", transient=True) from None
    return [WdiObservation(indicator=row["indicator"]["id"],
                           countryiso3code=row.get("countryiso3code") or economy,
                           date=str(row["date"]), value=row.get("value"))
            for row in rows]
