"""Fill price and commission models, shared by the paper broker and the backtester."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CostModel:
    """Proportional costs in basis points of traded notional."""

    commission_bps: float
    slippage_bps: float

    def fill_price(self, reference_price: np.ndarray, side: np.ndarray) -> np.ndarray:
        """The price paid: worse than the reference by ``slippage_bps`` (``side`` is +1 for
        a buy, -1 for a sell)."""
        return reference_price * (1.0 + side * self.slippage_bps / 1e4)

    def commission(self, quantity: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Commission on the traded notional ``|quantity| * price``."""
        return np.abs(quantity) * price * self.commission_bps / 1e4
