"""Feature panels for a backtest, computed from prices over the whole history.

Every name the feature catalog knows (:mod:`macroquant.features.catalog`) is computed by
the catalog itself, so a backtest reads the same numbers as the daily features stage. The
catalog does not (yet) know ``sma:<window>``, which the ``sma_crossover`` rule needs; it is
computed here by :func:`rolling_mean`, a Numba kernel equal to
``prices.rolling(window, min_periods=window).mean()``. (It belongs in the catalog; see
docs/backtesting.md.)
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from macroquant.features.catalog import MAX_FILL_SESSIONS, compute_features

LOCAL_KINDS = ("sma",)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rolling_mean_2d(values: np.ndarray, window: int) -> np.ndarray:  # pragma: no cover - jit
    """Column-wise mean of the last ``window`` values; NaN while the window is short or
    holds a NaN. Compensated (Kahan) running sum, so long series do not drift."""
    n_rows, n_cols = values.shape
    by_column = np.empty((n_cols, n_rows), dtype=np.float64)  # column-major output
    for j in range(n_cols):
        total = 0.0
        carry = 0.0
        missing = 0
        for i in range(n_rows):
            x = values[i, j]
            if np.isnan(x):
                missing += 1
            else:
                y = x - carry
                t = total + y
                carry = (t - total) - y
                total = t
            if i >= window:
                old = values[i - window, j]
                if np.isnan(old):
                    missing -= 1
                else:
                    y = -old - carry
                    t = total + y
                    carry = (t - total) - y
                    total = t
            by_column[j, i] = total / window if i >= window - 1 and missing == 0 else np.nan
    return by_column.T


def rolling_mean(prices: pd.DataFrame, window: int) -> pd.DataFrame:
    """Simple moving average over ``window`` observations (NaN until ``window`` values
    without a gap have been seen)."""
    if window < 1:
        raise ValueError("window must be at least 1")
    values = np.asfortranarray(prices.to_numpy(dtype=np.float64))  # columns contiguous
    return pd.DataFrame(_rolling_mean_2d(values, window), index=prices.index,
                        columns=prices.columns)


def compute_backtest_features(
    names: set[str], raw_close: pd.DataFrame, adjusted_close: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Each named feature as a panel shaped like ``adjusted_close``.

    Catalog features go through the catalog; ``sma:<window>`` is the SMA of the
    back-adjusted close, carried over gaps of at most ``MAX_FILL_SESSIONS`` as the catalog
    does.
    """
    local = {n for n in names if n.partition(":")[0] in LOCAL_KINDS}
    out = compute_features(names - local, raw_close, adjusted_close) if names - local else {}
    if local and adjusted_close.isna().to_numpy().any():
        adjusted_close = adjusted_close.ffill(limit=MAX_FILL_SESSIONS)
    for name in local:
        raw = name.partition(":")[2]
        if not raw.isdigit() or int(raw) < 2:
            raise ValueError(f"unknown feature '{name}'")
        out[name] = rolling_mean(adjusted_close, int(raw))
    return out
