"""Signal filters applied after a strategy's ``generate``: pure functions on wide panels.

Order (see :func:`apply_filters`): anomaly gate, then decay, then minimum strength.

- **anomaly gate**: no signal (NaN) on a date and instrument whose data checks flagged it.
- **decay**: a signal that has not changed fades with a half-life of ``h`` sessions:
  ``s_t * 0.5 ** (age_t / h)`` where ``age_t`` counts sessions since the value last
  changed (0 on the day it changes). A rule that holds a position (Donchian, Bollinger...)
  thus loses conviction as its trigger grows stale.
- **minimum strength**: ``|s| < min_strength`` becomes 0 (no position, but a known signal).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from macroquant.strategies.loader import FilterConfig


def anomaly_gate(strength: pd.DataFrame, flagged: pd.DataFrame | None) -> pd.DataFrame:
    """NaN where ``flagged`` is True (aligned on dates and instruments; missing = not
    flagged)."""
    if flagged is None or flagged.empty:
        return strength
    mask = flagged.reindex(index=strength.index, columns=strength.columns)
    return strength.mask(mask.fillna(False).astype(bool))


def sessions_unchanged(strength: pd.DataFrame) -> pd.DataFrame:
    """Per cell, sessions since the value last changed (0 on a change or the first value);
    NaN where the strength is NaN. A NaN in between counts as a change."""
    values = np.asfortranarray(strength.to_numpy(dtype=np.float64))
    return pd.DataFrame(_unchanged_age(values, len(values)), index=strength.index,
                        columns=strength.columns, copy=False)


@numba.njit(cache=True, nogil=True)
def _unchanged_age(values: np.ndarray, keep: int) -> np.ndarray:  # pragma: no cover (compiled)
    """:func:`sessions_unchanged` of a float panel, last ``keep`` rows (column-major out)."""
    n_rows, n_cols = values.shape
    first = n_rows - keep
    out = np.empty((n_cols, keep)).T
    for j in range(n_cols):
        last_change = 0
        for i in range(n_rows):
            x = values[i, j]
            if i == 0 or x != values[i - 1, j]:  # NaN counts as a change
                last_change = i
            if i >= first:
                out[i - first, j] = np.nan if np.isnan(x) else float(i - last_change)
    return out


def decay(strength: pd.DataFrame, half_life: float, keep: int | None = None) -> pd.DataFrame:
    """Fade unchanged signals: ``s * 0.5 ** (sessions unchanged / half_life)``; with
    ``keep``, only the last ``keep`` rows (their ages still count all of ``strength``)."""
    values = np.asfortranarray(strength.to_numpy(dtype=np.float64))
    keep = len(values) if keep is None else keep
    age = _unchanged_age(values, keep)
    kept = strength.iloc[len(values) - keep:]
    return kept * np.power(0.5, pd.DataFrame(age, index=kept.index, columns=kept.columns,
                                             copy=False) / half_life)


def minimum_strength(strength: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Zero out ``|s| < threshold`` (NaN stays NaN)."""
    if threshold <= 0:
        return strength
    return strength.where(strength.isna() | (strength.abs() >= threshold), 0.0)


def apply_filters(strength: pd.DataFrame, config: FilterConfig,
                  flagged: pd.DataFrame | None = None, keep: int | None = None) -> pd.DataFrame:
    """The configured filters in order: gate, decay, minimum strength. With ``keep``, only
    the last ``keep`` rows are returned (equal to the full result's): the gate and the
    decay's ages read all rows, the rest is per cell."""
    if config.half_life is None and keep is not None:
        strength = strength.iloc[len(strength) - keep:]
    out = anomaly_gate(strength, flagged) if config.anomaly_gate else strength
    if config.half_life is not None:
        out = decay(out, config.half_life, keep)
    return minimum_strength(out, config.min_strength)
