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
    values = strength.to_numpy(dtype=float)
    changed = np.ones(values.shape, dtype=bool)
    changed[1:] = ~(values[1:] == values[:-1])
    positions = np.arange(len(values))[:, None] * np.ones((1, values.shape[1]))
    last_change = np.where(changed, positions, np.nan)
    last_change = pd.DataFrame(last_change).ffill().to_numpy()
    age = positions - last_change
    return pd.DataFrame(np.where(np.isnan(values), np.nan, age), index=strength.index,
                        columns=strength.columns)


def decay(strength: pd.DataFrame, half_life: float) -> pd.DataFrame:
    """Fade unchanged signals: ``s * 0.5 ** (sessions unchanged / half_life)``."""
    return strength * np.power(0.5, sessions_unchanged(strength) / half_life)


def minimum_strength(strength: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Zero out ``|s| < threshold`` (NaN stays NaN)."""
    if threshold <= 0:
        return strength
    return strength.where(strength.isna() | (strength.abs() >= threshold), 0.0)


def apply_filters(strength: pd.DataFrame, config: FilterConfig,
                  flagged: pd.DataFrame | None = None) -> pd.DataFrame:
    """The configured filters in order: gate, decay, minimum strength."""
    out = anomaly_gate(strength, flagged) if config.anomaly_gate else strength
    if config.half_life is not None:
        out = decay(out, config.half_life)
    return minimum_strength(out, config.min_strength)
