"""Pre-trade limits on portfolio targets (pure, vectorised over dates and instruments).

Applied in this order, each recorded as a risk event:

1. ``max_position``: ``|quantity * price| <= max_position_fraction * capital`` per
   instrument; larger targets are clipped (toward zero, to whole lots).
2. ``max_gross_leverage``: ``sum |quantity * price| <= max_gross_leverage * capital`` per
   date; a larger book is scaled down proportionally (toward zero, to whole lots).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.portfolio.sizing import truncate_to_lot


def apply_limits(
    targets: pd.DataFrame,
    *,
    capital: float,
    max_position_fraction: float,
    max_gross_leverage: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the limits to ``targets`` (columns ``as_of, symbol, price, lot_size,
    target_quantity``).

    Returns ``(approved, events)``: ``approved`` is ``targets`` plus ``approved_quantity``
    and ``risk_status`` (approved / clipped / scaled); ``events`` has one row per check and
    subject with ``as_of, check_name, subject, outcome, limit_value, observed_value``.
    """
    out = targets.copy()
    price, lot = out["price"].to_numpy(float), out["lot_size"].to_numpy(float)
    quantity = out["target_quantity"].to_numpy(float)

    max_notional = max_position_fraction * capital
    notional = np.abs(quantity * price)
    over = notional > max_notional + 1e-9
    clipped = np.where(over, truncate_to_lot(np.sign(quantity) * max_notional / price, lot),
                       quantity)
    position_events = pd.DataFrame({
        "as_of": out["as_of"], "check_name": "max_position", "subject": out["symbol"],
        "outcome": np.where(over, "clip", "pass"), "limit_value": max_notional,
        "observed_value": notional,
    })

    out["_gross"] = np.abs(clipped * price)
    gross = out.groupby("as_of")["_gross"].transform("sum").to_numpy(float)
    max_gross = max_gross_leverage * capital
    scale = np.where(gross > max_gross + 1e-9, max_gross / np.where(gross > 0, gross, 1.0), 1.0)
    approved = np.where(scale < 1.0, truncate_to_lot(clipped * scale, lot), clipped)

    out["approved_quantity"] = approved + 0.0
    out["risk_status"] = np.select([scale < 1.0, over], ["scaled", "clipped"], "approved")
    out = out.drop(columns="_gross")

    per_date = pd.DataFrame({"as_of": out["as_of"], "gross": gross / capital,
                             "scaled": scale < 1.0}).groupby("as_of", as_index=False).first()
    leverage_events = pd.DataFrame({
        "as_of": per_date["as_of"], "check_name": "max_gross_leverage", "subject": "portfolio",
        "outcome": np.where(per_date["scaled"], "scale", "pass"),
        "limit_value": max_gross_leverage, "observed_value": per_date["gross"],
    })
    events = pd.concat([position_events, leverage_events], ignore_index=True)
    return out, events
