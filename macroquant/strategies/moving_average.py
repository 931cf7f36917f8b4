"""Simple-moving-average crossover (trend following)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from macroquant.features.catalog import feature_name
from macroquant.strategies.base import Strategy, StrategyParameters, register


class SmaCrossoverParameters(StrategyParameters):
    fast: int = Field(20, ge=2, le=1000, description="sessions in the fast SMA")
    slow: int = Field(100, ge=3, le=2000, description="sessions in the slow SMA")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossoverParameters:
        if self.fast >= self.slow:
            raise ValueError("fast must be smaller than slow")
        return self


@register
class SmaCrossover(Strategy):
    """Trend following: strength +1 while ``SMA(fast) > SMA(slow)``, -1 while it is below,
    0 when they are equal, NaN until both averages exist. Both SMAs are of the
    back-adjusted close (features ``sma:<fast>`` and ``sma:<slow>``).

    A cross seen at the close of day *t* changes the signal of day *t*; the backtester and
    the orders stage trade it no earlier than the next bar.
    """

    strategy_type = "trend_following"
    rule = "sma_crossover"
    parameters_model = SmaCrossoverParameters
    parameters: SmaCrossoverParameters

    def required_features(self) -> set[str]:
        p = self.parameters
        return {feature_name("sma", p.fast), feature_name("sma", p.slow)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        fast = features[feature_name("sma", p.fast)]
        slow = features[feature_name("sma", p.slow)]
        known = fast.notna().to_numpy() & slow.notna().to_numpy()
        sign = np.sign(fast.to_numpy() - slow.to_numpy())
        return pd.DataFrame(np.where(known, sign, np.nan) + 0.0, index=fast.index,
                            columns=fast.columns)
