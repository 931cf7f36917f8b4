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


ACTION_ENTRY_COLUMNS = ["as_of", "instrument_id", "action", "value", "quantity_before",
                        "quantity_after", "cash"]


def apply_corporate_actions(book: pd.DataFrame, actions: pd.DataFrame, as_of: object
                            ) -> tuple[pd.DataFrame, float, pd.DataFrame]:
    """The book after the corporate actions whose ex-date is ``as_of``, applied to the
    positions held at the previous close (before that session's fills).

    ``actions``: ``instrument_id, action ('split'|'dividend'), value`` (the split ratio
    new/old shares, or the cash dividend per share). A dividend credits
    ``quantity × value`` (a short position pays it); a split multiplies the quantity by
    the ratio and divides the average cost by it (the position's cost is unchanged).
    Dividends are applied before a split of the same day (their amount is per share as
    traded before the ex-date). Returns ``(book, cash received, one entry per action on
    a held position)`` (:data:`ACTION_ENTRY_COLUMNS`).
    """
    held = actions[actions["instrument_id"].isin(book.index)]
    if held.empty:
        return book, 0.0, pd.DataFrame(columns=ACTION_ENTRY_COLUMNS)
    out = book.copy()
    cash, entries = 0.0, []
    for kind in ("dividend", "split"):
        for row in held[held["action"] == kind].itertuples(index=False):
            quantity = float(out.at[row.instrument_id, "quantity"])
            value = float(row.value)
            if kind == "dividend":
                received, after = quantity * value, quantity
            else:
                received, after = 0.0, quantity * value
                out.at[row.instrument_id, "quantity"] = after
                out.at[row.instrument_id, "average_cost"] /= value
            cash += received
            entries.append({"as_of": as_of, "instrument_id": row.instrument_id,
                            "action": kind, "value": value, "quantity_before": quantity,
                            "quantity_after": after, "cash": received})
    return out, cash, pd.DataFrame(entries, columns=ACTION_ENTRY_COLUMNS)
