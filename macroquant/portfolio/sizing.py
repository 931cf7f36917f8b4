"""Volatility-targeted sizing (pure).

Each strategy gets ``weight`` of the portfolio's risk budget and spreads it equally over the
instruments of its universe. A full-strength signal on instrument *i* is sized so that the
position alone would have an annualised volatility of
``capital * weight * annual_volatility_target / n_instruments``:

    notional_i = strength_i * capital * weight * target / (n * sigma_i)
    quantity_i = notional_i / price_i

``sigma_i`` is the instrument's annualised return volatility. Correlations between
instruments are ignored here (no diversification multiplier), which under-uses the budget
for a diversified universe: the conservative side.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def volatility_target_notional(
    strength: pd.DataFrame | pd.Series,
    annual_volatility: pd.DataFrame | pd.Series,
    *,
    capital: float,
    weight: float,
    annual_volatility_target: float,
    n_instruments: int,
) -> pd.DataFrame | pd.Series:
    """Target notional (base currency) per date and instrument; NaN where the volatility
    is missing or not positive."""
    if n_instruments < 1:
        raise ValueError("n_instruments must be at least 1")
    budget = capital * weight * annual_volatility_target / n_instruments
    return strength * budget / annual_volatility.where(annual_volatility > 0)


def round_to_lot(quantity: np.ndarray | pd.Series, lot_size: np.ndarray | pd.Series):
    """Round quantities to the nearest whole lot (halves away from zero)."""
    lots = np.abs(quantity) / lot_size
    return np.sign(quantity) * np.floor(lots + 0.5) * lot_size


def truncate_to_lot(quantity: np.ndarray | pd.Series, lot_size: np.ndarray | pd.Series):
    """Round quantities toward zero to whole lots (never enlarges a position)."""
    return np.sign(quantity) * np.floor(np.abs(quantity) / lot_size + 1e-9) * lot_size
