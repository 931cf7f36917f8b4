"""Feature panels for a backtest, computed from prices over the whole history.

Every name goes through the feature catalog (:mod:`macroquant.features.catalog`), so a
backtest reads the same numbers as the daily features and signals stages, ``sma:<window>``
(the ``sma_crossover`` rule's input) included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.features import kernels
from macroquant.features.catalog import compute_features


def rolling_mean(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Simple moving average over ``window`` observations (NaN until ``window`` values
    without a gap have been seen); the catalog's ``sma`` kernel on an unfilled panel."""
    if window < 1:
        raise ValueError("window must be at least 1")
    values = kernels.rolling_mean(prices.to_numpy(dtype=np.float64), window, len(prices))
    return pd.DataFrame(values, index=prices.index, columns=prices.columns)


def compute_backtest_features(
    names: set[str], raw_close: pd.DataFrame, adjusted_close: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Each named feature as a panel shaped like ``adjusted_close`` (all history)."""
    return compute_features(names, raw_close, adjusted_close) if names else {}
