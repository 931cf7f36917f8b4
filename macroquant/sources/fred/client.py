"""FRED/ALFRED through the ``fredapi`` client, with typed records and typed failures.

``fredapi`` fetches FRED's XML with ``urllib`` and turns every HTTP error into a bare
``ValueError`` (the status code is lost) with no timeout. :class:`AlfredClient` subclasses
``fredapi.Fred`` and replaces only its one fetch method (``Fred.__fetch_data``): the same
request with a timeout, and 429/5xx/timeouts raised as transient :class:`SourceError`,
other failures as permanent ones. Everything else — URLs, paging defaults, XML parsing of
observations — is fredapi's own code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import urlopen

import pandas as pd
from fredapi import Fred

from macroquant.economics.vendors import http_failure
from macroquant.errors import SourceError
from macroquant.sources.fred.config import SOURCE_ID


@dataclass(frozen=True)
class FredRelease:
    """FRED's ``<release>`` element (fields as FRED names them)."""

    id: str
    name: str
    link: str | None


class AlfredClient(Fred):
    """``fredapi.Fred`` pointed at ``root_url`` with typed failures (see module doc)."""

    def __init__(self, api_key: str, root_url: str, timeout_seconds: float = 30.0) -> None:
        super().__init__(api_key=api_key)
        self.root_url = root_url.rstrip("/")
        self.timeout_seconds = timeout_seconds

    def _Fred__fetch_data(self, url: str) -> ET.Element:  # noqa: N802 (fredapi's hook name)
        """fredapi's fetch (``Fred.__fetch_data``) with a timeout and typed errors."""
        url += "&api_key=" + quote(self.api_key)
        try:
            with urlopen(url, timeout=self.timeout_seconds) as response:  # noqa: S310
                body = response.read()
        except HTTPError as exc:
            raise http_failure(SOURCE_ID, exc.code, _error_message(exc)) from None
        except TimeoutError as exc:
            raise SourceError(SOURCE_ID, f"timed out after {self.timeout_seconds}s: {exc}",
                              transient=True) from None
        except URLError as exc:
            raise SourceError(SOURCE_ID, f"cannot reach {self.root_url}: {exc.reason}",
                              transient=True) from None
        try:
            return ET.fromstring(body)
        except ET.ParseError as exc:
            raise SourceError(SOURCE_ID, f"response is not FRED XML ({exc})",
                              transient=False) from None

    # ----------------------------------------------------------------- typed calls
    def all_releases(self, vendor_id: str) -> pd.DataFrame:
        """Every vintage of ``vendor_id`` (fredapi ``get_series_all_releases``): columns
        ``date``, ``realtime_start`` (datetime64) and ``value`` (float, NaN for FRED's ``.``)."""
        try:
            frame = self.get_series_all_releases(vendor_id)
        except ValueError as exc:
            raise SourceError(SOURCE_ID, f"series {vendor_id}: {exc}", transient=False) from None
        if frame.empty:
            return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"),
                                 "realtime_start": pd.Series(dtype="datetime64[ns]"),
                                 "value": pd.Series(dtype=float)})
        return pd.DataFrame({
            "date": pd.to_datetime(frame["date"]).astype("datetime64[ns]"),
            "realtime_start": pd.to_datetime(frame["realtime_start"]).astype("datetime64[ns]"),
            "value": pd.to_numeric(frame["value"]).astype(float),
        })

    def series_release(self, vendor_id: str) -> FredRelease:
        """The release that publishes ``vendor_id`` (FRED ``series/release``)."""
        root = self._Fred__fetch_data(f"{self.root_url}/series/release?series_id={vendor_id}")
        element = root.find("release")
        if element is None:
            raise SourceError(SOURCE_ID, f"series {vendor_id}: FRED names no release",
                              transient=False)
        return FredRelease(id=element.get("id", ""), name=element.get("name", ""),
                           link=element.get("link"))

    def release_dates(self, release_id: str) -> list[date]:
        """Every publication date of ``release_id`` (FRED ``release/dates``, full real-time
        period, only dates on which the release had data)."""
        root = self._Fred__fetch_data(
            f"{self.root_url}/release/dates?release_id={release_id}"
            f"&realtime_start={self.earliest_realtime_start}"
            f"&realtime_end={self.latest_realtime_end}&limit=10000")
        return [date.fromisoformat(e.text.strip()) for e in root.iter("release_date")
                if e.text]


def _error_message(exc: HTTPError) -> str:
    """FRED's ``<error code=".." message=".."/>`` text, or the HTTP reason."""
    try:
        body = exc.read()
        message = ET.fromstring(body).get("message") if body else None
    except (ET.ParseError, OSError):
        message = None
    return message or str(exc.reason)
