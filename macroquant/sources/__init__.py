"""Data source adapters, one subpackage each with the same files (see ``_template/``).

A source is enabled by a ``data_sources`` row whose ``adapter`` names its subpackage here.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

ADAPTERS = ("sample", "csv_files", "yahoo", "alpha_vantage", "ccxt_exchange", "fred",
            "world_bank", "eurostat", "bls", "alternative", "parquet_files")


def load_adapter(name: str) -> ModuleType:
    """Import the adapter subpackage ``macroquant.sources.<name>``."""
    if name not in ADAPTERS:
        raise KeyError(f"unknown data source adapter '{name}'; known: {', '.join(ADAPTERS)}")
    return import_module(f"macroquant.sources.{name}")
