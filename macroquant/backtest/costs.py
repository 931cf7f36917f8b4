"""The backtest's cost model: the shared bps model of :mod:`macroquant.execution.costs`
plus a commission per share, a bid/ask spread and a volume-participation cap.

The extra pieces are pure and small; they belong next to :class:`CostModel` in
``macroquant/execution/costs.py`` so the paper broker can share them (see
docs/backtesting.md).

- fill price: the reference price made worse by ``slippage_bps + spread_bps / 2``
  (half the spread is paid on each side), through ``CostModel.fill_price``;
- commission: ``commission_bps`` of the filled notional (``CostModel.commission``) plus
  ``commission_per_share * |quantity|``;
- participation: a fill is at most ``max_volume_participation * volume`` of that bar.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from macroquant.execution.costs import CostModel


class BacktestCosts(BaseModel):
    """Every cost parameter a backtest fills with (all default to no cost)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    commission_bps: float = Field(0.0, ge=0)
    slippage_bps: float = Field(0.0, ge=0)
    commission_per_share: float = Field(0.0, ge=0)
    spread_bps: float = Field(0.0, ge=0)
    max_volume_participation: float | None = Field(None, gt=0, le=1)

    @property
    def shared_model(self) -> CostModel:
        """The paper broker's model with the half spread folded into the slippage."""
        return CostModel(commission_bps=self.commission_bps,
                         slippage_bps=self.slippage_bps + self.spread_bps / 2.0)

    @property
    def commission_rate(self) -> float:
        """Commission per unit of filled notional (the bps model is linear)."""
        return float(self.shared_model.commission(np.array(1.0), np.array(1.0)))

    def fill_price(self, reference_price: np.ndarray, side: np.ndarray | float) -> np.ndarray:
        """The price paid (``side`` +1 buy, -1 sell)."""
        return self.shared_model.fill_price(reference_price, np.asarray(side, dtype=float))

    def commission(self, quantity: np.ndarray, price: np.ndarray) -> np.ndarray:
        """Commission of fills of ``quantity`` at ``price``."""
        return (self.shared_model.commission(quantity, price)
                + np.abs(quantity) * self.commission_per_share)

    def participation_cap(self, volume: np.ndarray) -> np.ndarray:
        """Largest fill per bar (inf without a cap or where the volume is unknown)."""
        volume = np.asarray(volume, dtype=float)
        if self.max_volume_participation is None:
            return np.full(volume.shape, np.inf)
        return np.where(np.isnan(volume), np.inf, volume * self.max_volume_participation)
