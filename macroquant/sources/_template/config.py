"""Configuration of the template source: its ``data_sources`` row and options model."""

from __future__ import annotations

from macroquant.sources.fetch import FetchOptions

SOURCE_ID = "template"


class TemplateOptions(FetchOptions):
    """The ``data_sources.config`` object of this source: fetch control's keys
    (``symbols``, ``fallback_source_id``, ``incremental``, ``overlap_days``,
    ``max_catchup_days``) plus the vendor's own options, if any (unknown keys are errors)."""


DATA_SOURCE = {
    "source_id": SOURCE_ID,
    "kind": "market_data",
    "adapter": "_template",
    "description": "Template: replace with what the vendor serves and its free-tier limits",
    "credentials_ref": None,          # e.g. "VENDOR_API_KEY": the secret's NAME
    "rate_limit_per_minute": 60,
    "priority": 10,
    "enabled": False,
    "config": {"incremental": True},
}
