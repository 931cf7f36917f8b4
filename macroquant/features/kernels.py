"""Numba kernels behind the catalog's features: column-wise loops over float64 panels.

Each kernel takes a ``(sessions, instruments)`` float64 array and returns only its last
``keep`` rows, so a daily run can walk a recursive filter over the whole history while
holding just the window it needs. They reproduce pandas' definitions (checked against
pandas in ``tests/unit`` and ``tests/strategies/test_signal_speed_equivalence.py``).

Loops run instrument by instrument (each column's sessions innermost) and write column-major
(Fortran-ordered) outputs: pandas keeps a float panel's block as instruments × sessions, so
a column-major array is what a DataFrame wraps without a copy and what ``to_numpy`` returns,
and each column is then contiguous in memory. Pass column-major inputs
(``np.asfortranarray``); any layout gives the same numbers, only slower.
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
    out = np.empty((n_cols, keep), dtype=np.float64).T
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
    out = np.empty((n_cols, keep), dtype=np.float64).T
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
    out = np.full((n_cols, keep), np.nan).T
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


@numba.njit(cache=True, nogil=True, inline="always")
def _extreme(a: float, b: float, highest: bool) -> float:  # pragma: no cover - compiled
    """The larger (``highest``) or smaller of two values; NaN if either is NaN."""
    if a != a:
        return a
    if highest:
        return a if a >= b else b
    return a if a <= b else b


@numba.njit(cache=True, nogil=True)
def channel_extreme(values: np.ndarray, window: int, keep: int,
                    highest: bool) -> np.ndarray:  # pragma: no cover - compiled
    """Highest (``highest``) or lowest value of the ``window`` sessions *before* each row
    (NaN while fewer than ``window`` exist or one is NaN), last ``keep`` rows: pandas'
    ``rolling(window, min_periods=window).max().shift(1)`` (``.min()``). Exact (only
    comparisons), three passes per column: running extremes from the start and from the
    end of blocks of ``window`` rows; a window spans at most two blocks, so its extreme is
    that of the tail of one block and the head of the next (van Herk / Gil-Werman)."""
    n_rows, n_cols = values.shape
    first = n_rows - keep
    out = np.empty((n_cols, keep)).T
    head = np.empty(n_rows)  # extreme from the block's start to the row
    tail = np.empty(n_rows)  # extreme from the row to the block's end
    for j in range(n_cols):
        for i in range(n_rows):
            x = values[i, j]
            head[i] = x if i % window == 0 else _extreme(head[i - 1], x, highest)
        for i in range(n_rows - 1, -1, -1):
            x = values[i, j]
            end = i % window == window - 1 or i == n_rows - 1
            tail[i] = x if end else _extreme(tail[i + 1], x, highest)
        for i in range(first, n_rows):
            if i < window:
                out[i - first, j] = np.nan
            else:  # the window of rows i - window .. i - 1
                out[i - first, j] = _extreme(tail[i - window], head[i - 1], highest)
    return out
