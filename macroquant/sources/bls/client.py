"""BLS public API v2: one JSON POST per (up to 50 series × 20 years), through ``requests``.

Returns BLS's own records (:class:`BlsObservation`, fields as BLS names them). BLS reports
most failures inside an HTTP 200 answer (``status: REQUEST_NOT_PROCESSED`` with a
``message`` list): those become :class:`SourceError` too — transient for the daily request
threshold, permanent otherwise (invalid key, unknown series).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from macroquant.economics.vendors import http_failure
from macroquant.errors import SourceError
from macroquant.sources.bls.config import SOURCE_ID

_THRESHOLD_WORDS = ("threshold", "exceeded")


@dataclass(frozen=True)
class BlsObservation:
    """One element of ``Results.series[].data`` (value kept as BLS's text)."""

    series_id: str
    year: str
    period: str
    value: str
    footnote_codes: tuple[str, ...]


def fetch_series(api_url: str, bls_ids: list[str], api_key: str, start_year: int | None,
                 end_year: int | None, timeout: float) -> list[BlsObservation]:
    """POST one request for ``bls_ids`` (at most 50) over ``start_year..end_year`` (at most
    20 years; both None: BLS's default, the latest three years)."""
    body: dict[str, Any] = {"seriesid": bls_ids, "registrationkey": api_key}
    if start_year is not None and end_year is not None:
        body.update(startyear=str(start_year), endyear=str(end_year))
    try:
        response = requests.post(api_url, json=body, timeout=timeout)
    except requests.Timeout as exc:
        raise SourceError(SOURCE_ID, f"timed out after {timeout}s: {exc}",
                          transient=True) from None
    except requests.ConnectionError as exc:
        raise SourceError(SOURCE_ID, f"cannot reach {api_url}: {exc}", transient=True) from None
    if response.status_code != 200:
        raise http_failure(SOURCE_ID, response.status_code, response.reason or "")
    try:
        payload = response.json()
    except ValueError:
        raise SourceError(SOURCE_ID, "the answer is not JSON", transient=False,
                          status=200) from None
    return _observations(payload, bls_ids)


def _observations(payload: dict[str, Any], bls_ids: list[str]) -> list[BlsObservation]:
    messages = [str(m) for m in payload.get("message") or []]
    if payload.get("status") != "REQUEST_SUCCEEDED":
        text = "; ".join(messages) or f"status {payload.get('status')!r}"
        transient = any(word in text.lower() for word in _THRESHOLD_WORDS)
        raise SourceError(SOURCE_ID, f"request not processed: {text}", transient=transient)
    missing = [m for m in messages if "does not exist" in m.lower()]
    if missing:
        raise SourceError(SOURCE_ID, "; ".join(missing), transient=False)
    out: list[BlsObservation] = []
    for series in payload.get("Results", {}).get("series", []):
        for item in series.get("data", []):
            codes = tuple(f["code"] for f in item.get("footnotes") or [] if f and f.get("code"))
            out.append(BlsObservation(series_id=series["seriesID"], year=item["year"],
                                      period=item["period"], value=item["value"],
                                      footnote_codes=codes))
    return out
