"""Signals to target weights (pure, vectorised over dates × instruments).

A weight is a fraction of the portfolio's equity, decided at a date's close. The sizing
method comes from the strategy file (``sizing.method``):

- ``full_equity``: all equity, split equally over the instruments with a non-zero signal
  that day, in the signal's direction (one instrument: ±100 %);
- ``equal_weight``: ``direction / n`` for a universe of ``n`` instruments;
- ``volatility_target``: the daily pipeline's sizing
  (:func:`macroquant.portfolio.sizing.volatility_target_notional` per unit of capital),
  then the risk stage's limits (:func:`macroquant.risk.limits.apply_limits`) on those
  weights with capital 1 and fractional lots.

``long_only`` clips negative strengths to 0 first. Missing signals (not enough history)
are flat.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.portfolio.sizing import volatility_target_notional
from macroquant.risk.limits import apply_limits

# Limits run on weights: quantities with price 1 and lots this small (fractional shares).
WEIGHT_LOT = 1e-12


def direction_weights(strength: pd.DataFrame, method: str) -> pd.DataFrame:
    """``full_equity`` or ``equal_weight`` weights from signal directions."""
    direction = np.sign(strength.to_numpy(dtype=np.float64))
    direction[np.isnan(direction)] = 0.0
    if method == "equal_weight":
        weights = direction / max(strength.shape[1], 1)
    elif method == "full_equity":
        active = np.count_nonzero(direction, axis=1).astype(np.float64)[:, None]
        weights = np.divide(direction, active, out=np.zeros_like(direction), where=active > 0)
    else:
        raise ValueError(f"not a direction sizing method: {method}")
    return pd.DataFrame(weights + 0.0, index=strength.index, columns=strength.columns)


def volatility_target_weights(
    strength: pd.DataFrame,
    annual_volatility: pd.DataFrame,
    *,
    weight: float,
    annual_volatility_target: float,
    max_position_fraction: float | None = None,
    max_gross_leverage: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Volatility-targeted weights and the risk events of the limits (empty without
    limits)."""
    raw = volatility_target_notional(strength, annual_volatility, capital=1.0, weight=weight,
                                     annual_volatility_target=annual_volatility_target,
                                     n_instruments=strength.shape[1])
    raw = raw.fillna(0.0)
    if max_position_fraction is None or max_gross_leverage is None:
        return raw + 0.0, pd.DataFrame()
    long = raw.stack().rename("target_quantity").reset_index()
    long.columns = ["as_of", "symbol", "target_quantity"]
    long = long.assign(price=1.0, lot_size=WEIGHT_LOT)
    approved, events = apply_limits(long, capital=1.0,
                                    max_position_fraction=max_position_fraction,
                                    max_gross_leverage=max_gross_leverage)
    limited = approved.pivot(index="as_of", columns="symbol", values="approved_quantity")
    limited = limited.reindex(index=raw.index, columns=raw.columns).fillna(0.0)
    limited.index.name, limited.columns.name = raw.index.name, None
    return limited + 0.0, events


def signal_strength(strength: pd.DataFrame, *, long_only: bool) -> pd.DataFrame:
    """Strength clipped to [-1, 1], and to [0, 1] for a long-only strategy."""
    return strength.clip(0.0 if long_only else -1.0, 1.0)
