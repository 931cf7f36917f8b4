"""Template client: calls the vendor and returns its records with the vendor's field names.

Replace the body of :func:`daily_bars` with the vendor library's call. Map its errors to
:class:`SourceError` with the right ``transient`` flag; never retry here (the fetch
controller does)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from macroquant.errors import SourceError
from macroquant.sources._template.config import SOURCE_ID


class VendorBar(BaseModel):
    """One daily bar as the vendor names its fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    open: float | None
    high: float | None
    low: float | None
    close: float
    volume: float | None


def daily_bars(vendor_symbol: str, start: date, end: date, *,
               api_key: str | None = None) -> list[VendorBar]:
    """The vendor's daily bars of ``vendor_symbol`` from ``start`` to ``end``."""
    raise SourceError(SOURCE_ID, f"the template has no vendor to ask for {vendor_symbol}",
                      transient=False)
