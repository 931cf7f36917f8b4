"""Built-in strategies: EWMA crossover (trend following) and z-score (mean reversion)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from macroquant.features.catalog import feature_name
from macroquant.strategies.base import Strategy, StrategyParameters, register

# A forecast of FORECAST_CAP (in pysystemtrade's units, where 10 is an average conviction)
# maps to strength 1.
FORECAST_CAP = 20.0


class EwmaCrossoverParameters(StrategyParameters):
    fast_span: int = Field(16, ge=2, le=500)
    slow_span: int = Field(64, ge=3, le=1000)
    volatility_span: int = Field(36, ge=5, le=500)
    forecast_scalar: float = Field(3.75, gt=0, description="scales the raw crossover so that "
                                   "its average absolute value is about 10")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> EwmaCrossoverParameters:
        if self.fast_span >= self.slow_span:
            raise ValueError("fast_span must be smaller than slow_span")
        return self


@register
class EwmaCrossover(Strategy):
    """Trend following: ``(EWMA_fast - EWMA_slow) / daily price volatility``, times a
    forecast scalar, capped at ±20 and divided by 20 to give a strength in [-1, 1]."""

    strategy_type = "trend_following"
    rule = "ewma_crossover"
    parameters_model = EwmaCrossoverParameters
    parameters: EwmaCrossoverParameters

    def required_features(self) -> set[str]:
        p = self.parameters
        return {feature_name("ewma", p.fast_span), feature_name("ewma", p.slow_span),
                feature_name("price_volatility", p.volatility_span)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        fast = features[feature_name("ewma", p.fast_span)]
        slow = features[feature_name("ewma", p.slow_span)]
        volatility = features[feature_name("price_volatility", p.volatility_span)]
        raw = (fast - slow) / volatility.where(volatility > 0)
        forecast = (raw * p.forecast_scalar).clip(-FORECAST_CAP, FORECAST_CAP)
        return forecast / FORECAST_CAP


class ZScoreParameters(StrategyParameters):
    window: int = Field(20, ge=3, le=500)
    entry_z: float = Field(1.0, ge=0, description="no position while |z| is below this")
    cap_z: float = Field(3.0, gt=0, description="full strength at and beyond this |z|")

    @model_validator(mode="after")
    def _entry_below_cap(self) -> ZScoreParameters:
        if self.entry_z >= self.cap_z:
            raise ValueError("entry_z must be smaller than cap_z")
        return self


@register
class ZScoreReversion(Strategy):
    """Mean reversion: against the z-score of price to its rolling mean. Zero inside
    ``|z| < entry_z``; beyond it strength rises linearly to ±1 at ``cap_z``, with the
    sign opposite to ``z``."""

    strategy_type = "mean_reversion"
    rule = "zscore"
    parameters_model = ZScoreParameters
    parameters: ZScoreParameters

    def required_features(self) -> set[str]:
        return {feature_name("zscore", self.parameters.window)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        z = features[feature_name("zscore", p.window)]
        ramp = ((z.abs() - p.entry_z) / (p.cap_z - p.entry_z)).clip(0.0, 1.0)
        return -np.sign(z) * ramp + 0.0  # + 0.0 turns -0.0 into 0.0
