"""The divergence monitor (pure): how far an account's real orders and fills are from what
the engine's fill model would have done with the same orders — the shadow book.

For every order an account sent, the model fills it on the session after its signal date
(the engine's rule: ``broker.execution_price``, next open or next close, from the bars as
stored now) at the bar price worse by ``slippage_bps``, with ``commission_bps``; an order
whose instrument has no bar on that session expires unfilled, as in the paper account.
Each difference between the account and the model is one **cause**, in the base currency,
positive when the account did worse than the model:

- ``fill_price``: ``s × q × (fill price − model price on the fill's day)`` per fill
  (``s`` +1 for a buy, -1 for a sell): slippage beyond the model;
- ``costs``: fees charged − the model's commission on the same fill;
- ``timing``: ``s × q × (model price on the fill's day − model price on the model's day)``:
  a fill on another day than the model's;
- ``missed``: ``s × unfilled × (last close of the window − model price)``: the part of an
  order the model fills and the account did not (rejected by the broker, partial, lost),
  valued at the window's last close;
- ``data_revised``: ``s × q × (the signal-day close the order was sized on − that close as
  stored now)``: bars corrected since the trade.

For the paper account every cause is 0 (the paper broker *is* the model); anything else is
a bug, and the reports stage raises an alert. For a live broker the causes measure its real
slippage, fees and misses against the backtest's assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from macroquant.execution.costs import CostModel
from macroquant.execution.paper.simulator import reference_prices

CAUSES = ("fill_price", "costs", "timing", "missed", "data_revised")
DIVERGENCE_COLUMNS = ["as_of", "broker", "cause", "amount", "orders"]


@dataclass(frozen=True)
class FillModel:
    """The engine's fill and cost model (the trading configuration's ``broker`` section):
    the paper broker's own cost model and reference price."""

    costs: CostModel
    execution_price: str = "next_open"


def _bar_price(bars: pd.DataFrame, execution_price: str) -> pd.Series:
    """The price the model fills at on each bar before costs (the paper broker's
    :func:`~macroquant.execution.paper.simulator.reference_prices`), indexed by
    (trade_date, instrument_id)."""
    at = "close" if execution_price == "next_close" else "open"
    price, _ = reference_prices(bars["open"].to_numpy(float), bars["close"].to_numpy(float),
                                at)
    return pd.Series(price, index=pd.MultiIndex.from_arrays([bars["trade_date"],
                                                             bars["instrument_id"]]))


def divergence(orders: pd.DataFrame, fills: pd.DataFrame, bars: pd.DataFrame,
               sessions: list[date], model: FillModel, broker: str) -> pd.DataFrame:
    """One row per (date, cause) with its amount and the number of orders involved.

    ``orders``: ``client_order_id, as_of, instrument_id, side, quantity, status`` and
    ``reference_price`` (the close the order was sized on, NaN when not recorded);
    ``fills``: ``client_order_id, trade_date, quantity, price, commission``; ``bars``:
    ``trade_date, instrument_id, open, close`` of the sessions (as stored now);
    ``sessions``: the window's sessions and the one before it (model fill days). Orders the
    model does not fill (rejected by the gate, cancelled by the kill switch, no bar on the
    next session, or a next session after the window) are left out; so are their fills.
    """
    if orders.empty:
        return pd.DataFrame(columns=DIVERGENCE_COLUMNS)
    price_of = _bar_price(bars, model.execution_price)
    close_of = pd.Series(bars["close"].to_numpy(float), index=price_of.index)
    next_session = dict(zip(sessions[:-1], sessions[1:], strict=True))
    costs = model.costs
    out = orders.copy()
    out["sign"] = np.where(out["side"] == "buy", 1.0, -1.0)
    out["model_date"] = out["as_of"].map(next_session)
    keys = list(zip(out["model_date"], out["instrument_id"], strict=True))
    out["model_price"] = costs.fill_price(price_of.reindex(keys).to_numpy(),
                                          out["sign"].to_numpy())
    sent = ~out["status"].isin(["rejected", "cancelled"])
    out = out[sent & out["model_price"].notna()]
    if out.empty:
        return pd.DataFrame(columns=DIVERGENCE_COLUMNS)
    last_day = max(sessions)
    last_close = close_of.groupby(level=1).last() if len(close_of) else pd.Series(dtype=float)

    rows = []
    done = fills.merge(out[["client_order_id", "sign", "model_date", "model_price",
                            "instrument_id"]], on="client_order_id")
    if not done.empty:
        day_keys = list(zip(done["trade_date"], done["instrument_id"], strict=True))
        on_fill_day = costs.fill_price(price_of.reindex(day_keys).to_numpy(),
                                       done["sign"].to_numpy())
        signed = done["sign"] * done["quantity"]
        rows += [
            done.assign(cause="fill_price", amount=signed * (done["price"] - on_fill_day),
                        as_of=done["trade_date"]),
            done.assign(cause="costs", amount=done["commission"] - costs.commission(
                done["quantity"].to_numpy(), on_fill_day), as_of=done["trade_date"]),
            done.assign(cause="timing", amount=signed * (on_fill_day - done["model_price"]),
                        as_of=done["trade_date"])]
    filled = fills.groupby("client_order_id")["quantity"].sum()
    unfilled = out["quantity"] - out["client_order_id"].map(filled).fillna(0.0)
    missing = out[unfilled > 1e-9].assign(unfilled=unfilled[unfilled > 1e-9])
    if not missing.empty:
        final = last_close.reindex(missing["instrument_id"]).to_numpy()
        rows.append(missing.assign(cause="missed", as_of=missing["model_date"], amount=(
            missing["sign"] * missing["unfilled"] * (final - missing["model_price"]))))
    sized = out[out["reference_price"].notna()] if "reference_price" in out else out.iloc[0:0]
    if not sized.empty:
        now = close_of.reindex(list(zip(sized["as_of"], sized["instrument_id"],
                                        strict=True))).to_numpy()
        rows.append(sized.assign(cause="data_revised", as_of=sized["model_date"], amount=(
            sized["sign"] * sized["quantity"] * (sized["reference_price"] - now))))
    parts = [r[["as_of", "cause", "amount", "client_order_id"]] for r in rows if not r.empty]
    if not parts:
        return pd.DataFrame(columns=DIVERGENCE_COLUMNS)
    long = pd.concat(parts, ignore_index=True)
    long = long[long["as_of"] <= last_day]
    long["amount"] = long["amount"].fillna(0.0)
    table = (long.groupby(["as_of", "cause"])
             .agg(amount=("amount", "sum"), orders=("client_order_id", "nunique"))
             .reset_index())
    return table.assign(broker=broker)[DIVERGENCE_COLUMNS]


def divergence_summary(table: pd.DataFrame) -> pd.Series:
    """Total per cause over the table (every cause present, 0 where none)."""
    return table.groupby("cause")["amount"].sum().reindex(list(CAUSES), fill_value=0.0)
