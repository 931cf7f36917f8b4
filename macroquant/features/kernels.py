"""Numba kernels behind the catalog's features: column-wise loops over float64 panels.

Each kernel takes a ``(sessions, instruments)`` float64 array and returns only its last
``keep`` rows, so a daily run can walk a recursive filter over the whole history while
holding just the window it needs. They reproduce pandas' definitions (checked against
pandas in ``tests/unit`` and ``tests/strategies/test_signal_speed_equivalence.py``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ewm_mean(values: np.ndarray, alpha: float, min_periods: int,
             keep: int) -> np.ndarray:  # pragma: no cover - compiled
    """``DataFrame.ewm(alpha=alpha, adjust=False, min_periods=min_periods).mean()`` (NaN
    handling as pandas' default ``ignore_na=False``: a gap of ``g`` sessions weighs the
    previous average by ``(1 - alpha) ** (g + 1)``), last ``keep`` rows."""
    n_rows, n_cols = values.shape
    first = n_rows - keep
    out = np.empty((keep, n_cols), dtype=np.float64)
    factor = 1.0 - alpha
    for j in range(n_cols):
        weighted = values[0, j]
        seen = 1 if weighted == weighted else 0
        old_weight = 1.0
        if first <= 0:
            out[0 - first, j] = weighted if seen >= min_periods else np.nan
        for i in range(1, n_rows):
            current = values[i, j]
            observed = current == current
            if observed:
                seen += 1
            if weighted == weighted:
                old_weight *= factor
                if observed:
                    if weighted != current:
                        weighted = (old_weight * weighted + alpha * current) / (old_weight
                                                                                + alpha)
                    old_weight = 1.0
            elif observed:
                weighted = current
            if i >= first:
                out[i - first, j] = weighted if seen >= min_periods else np.nan
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rolling_mean(values: np.ndarray, window: int, keep: int) -> np.ndarray:  # pragma: no cover
    """Column-wise mean of the last ``window`` values (NaN while the window is short or holds
    a NaN), last ``keep`` rows. Compensated (Kahan) running sum, so long series do not
    drift from ``rolling(window, min_periods=window).mean()``."""
    n_rows, n_cols = values.shape
    first = n_rows - keep
    out = np.empty((keep, n_cols), dtype=np.float64)
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
            if i >= first:
                out[i - first, j] = (total / window if i >= window - 1 and missing == 0
                                     else np.nan)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def rolling_zscore(values: np.ndarray, window: int, keep: int) -> np.ndarray:  # pragma: no cover
    """``(x - mean) / sample std`` over the last ``window`` values (NaN while the window is
    short, holds a NaN, or does not vary), last ``keep`` rows. Each window is summed afresh
    (two passes: mean, then squared deviations), so a value does not depend on how much
    earlier history was given — unlike a running-sum update, whose rounding drifts."""
    n_rows, n_cols = values.shape
    first = n_rows - keep
    out = np.full((keep, n_cols), np.nan)
    for j in range(n_cols):
        for i in range(max(first, window - 1), n_rows):
            total = 0.0
            for k in range(i - window + 1, i + 1):
                total += values[k, j]
            if not np.isfinite(total):
                continue
            mean = total / window
            squares = 0.0
            for k in range(i - window + 1, i + 1):
                squares += (values[k, j] - mean) ** 2
            if squares > 0:
                out[i - first, j] = (values[i, j] - mean) / np.sqrt(squares / (window - 1))
    return out
