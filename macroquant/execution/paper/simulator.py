"""Paper broker: fills market orders at the next bar's open (or, configured, its close) with
configured costs.

Pure: orders and bars in, fills out. An order for an instrument with no bar that day is
not filled (the caller expires it: orders are day orders). A bar without an open (sources
that publish only a fixing or a close) fills at its close, and the fill says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from macroquant.execution.costs import CostModel

FILL_COLUMNS = ["trade_id", "client_order_id", "trade_date", "instrument_id", "side",
                "quantity", "price", "reference_price", "price_field", "commission",
                "slippage_cost"]


def reference_prices(opens: np.ndarray, closes: np.ndarray, at: str = "open"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The bar price a market order fills at before costs, and whether it is the open:
    the open (``at="open"``; a bar without one fills at its close) or the close."""
    use_open = ~np.isnan(opens) & (at == "open")
    return np.where(use_open, opens, closes), use_open


@dataclass(frozen=True)
class PaperBroker:
    """Simulated broker; ``name`` is what the orders table records."""

    costs: CostModel
    name: str = "paper"

    def fill_market_orders(
        self, orders: pd.DataFrame, bars: pd.DataFrame, trade_date: object,
        at: str = "open",
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Fill ``orders`` (``client_order_id, instrument_id, side, quantity``) on the bars
        of ``trade_date`` (indexed by instrument_id, columns ``open, close``), at the open
        (``at="open"``; a bar without one fills at its close) or at the close.

        Returns ``(fills, unfilled_orders)``.
        """
        has_bar = orders["instrument_id"].isin(bars.index)
        filled = orders.loc[has_bar].copy()
        unfilled = orders.loc[~has_bar].copy()
        if filled.empty:
            return pd.DataFrame(columns=FILL_COLUMNS), unfilled
        bar = bars.loc[filled["instrument_id"]]
        reference, use_open = reference_prices(bar["open"].to_numpy(float),
                                               bar["close"].to_numpy(float), at)
        side = np.where(filled["side"].to_numpy() == "buy", 1.0, -1.0)
        quantity = filled["quantity"].to_numpy(float)
        price = self.costs.fill_price(reference, side)
        filled["trade_id"] = filled["client_order_id"] + "-F1"
        filled["trade_date"] = trade_date
        filled["price"] = price
        filled["reference_price"] = reference
        filled["price_field"] = np.where(use_open, "open", "close")
        filled["commission"] = self.costs.commission(quantity, price)
        filled["slippage_cost"] = np.abs(price - reference) * quantity
        return filled[FILL_COLUMNS].reset_index(drop=True), unfilled
