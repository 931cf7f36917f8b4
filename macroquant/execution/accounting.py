"""Position and cash accounting for fills (pure)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def signed_quantity(fills: pd.DataFrame) -> pd.Series:
    """+quantity for buys, -quantity for sells."""
    return fills["quantity"].where(fills["side"] == "buy", -fills["quantity"])


def cash_change(fills: pd.DataFrame) -> float:
    """Cash paid (negative) or received (positive) for ``fills``, commissions included."""
    if fills.empty:
        return 0.0
    return float(-(signed_quantity(fills) * fills["price"]).sum() - fills["commission"].sum())


def apply_fills(book: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """New ``book`` (indexed by instrument_id, columns ``quantity, average_cost``) after
    ``fills`` (at most one per instrument).

    Average cost: a fill that adds to a position (or opens one) averages in its price; one
    that reduces it keeps the average; one that flips the side starts at the fill price.
    Flat positions are dropped.
    """
    if fills.empty:
        return book
    delta = signed_quantity(fills).groupby(fills["instrument_id"]).sum()
    price = fills.groupby("instrument_id")["price"].last()
    out = book.reindex(book.index.union(delta.index)).fillna(0.0)
    old_q = out.loc[delta.index, "quantity"].to_numpy(float)
    old_avg = out.loc[delta.index, "average_cost"].to_numpy(float)
    d, p = delta.to_numpy(float), price.loc[delta.index].to_numpy(float)
    new_q = old_q + d
    adds = (old_q == 0) | (np.sign(old_q) == np.sign(d))
    flips = np.sign(new_q) == -np.sign(old_q)
    with np.errstate(invalid="ignore", divide="ignore"):
        averaged = (np.abs(old_q) * old_avg + np.abs(d) * p) / np.abs(new_q)
    new_avg = np.select([new_q == 0, adds, flips], [0.0, averaged, p], old_avg)
    out.loc[delta.index, "quantity"] = new_q
    out.loc[delta.index, "average_cost"] = new_avg
    return out[out["quantity"] != 0]
