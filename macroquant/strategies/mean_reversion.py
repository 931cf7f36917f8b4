"""Mean-reversion built-ins with entry and exit thresholds: RSI and Bollinger bands.

Both hold a position from its entry threshold until its exit threshold (hysteresis), so a
signal does not flicker on and off around a single level. (The stateless z-score ramp lives
in :mod:`macroquant.strategies.builtin`.)
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from pydantic import Field, model_validator

from macroquant.features.catalog import feature_name
from macroquant.strategies.base import Strategy, StrategyParameters, register
from macroquant.strategies.positions import hold_until_exit


class RsiParameters(StrategyParameters):
    period: int = Field(14, ge=2, le=250)
    oversold: float = Field(30.0, gt=0, lt=100, description="go long below this RSI")
    overbought: float = Field(70.0, gt=0, lt=100, description="go short above this RSI")
    exit_long: float = Field(50.0, gt=0, lt=100, description="close a long above this RSI")
    exit_short: float = Field(50.0, gt=0, lt=100, description="close a short below this RSI")

    @model_validator(mode="after")
    def _ordered(self) -> RsiParameters:
        if not (self.oversold < self.exit_long <= self.overbought
                and self.oversold <= self.exit_short < self.overbought):
            raise ValueError("need oversold < exit_long <= overbought and "
                             "oversold <= exit_short < overbought")
        return self


@register
class RsiReversion(Strategy):
    """Long when RSI falls below ``oversold``, held until RSI rises above ``exit_long``;
    short when RSI rises above ``overbought``, held until it falls below ``exit_short``.
    Strength ±1."""

    strategy_type = "mean_reversion"
    rule = "rsi"
    parameters_model = RsiParameters
    parameters: RsiParameters

    def required_features(self) -> set[str]:
        return {feature_name("rsi", self.parameters.period)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        value = features[feature_name("rsi", p.period)]
        return hold_until_exit(enter_long=value < p.oversold, exit_long=value > p.exit_long,
                               enter_short=value > p.overbought,
                               exit_short=value < p.exit_short, known=value.notna())


class BollingerParameters(StrategyParameters):
    window: int = Field(20, ge=3, le=500)
    entry_band: float = Field(2.0, gt=0, description="enter beyond mean ± entry_band std")
    exit_band: float = Field(0.0, ge=0, description="exit once back within mean ± exit_band "
                             "std (0: at the mean)")

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> BollingerParameters:
        if self.exit_band >= self.entry_band:
            raise ValueError("exit_band must be smaller than entry_band")
        return self


@register
class BollingerReversion(Strategy):
    """Bollinger bands (rolling mean ± k sample standard deviations of the back-adjusted
    close, i.e. the z-score ``z``): long when ``z < -entry_band``, held until
    ``z > -exit_band``; short when ``z > entry_band``, held until ``z < exit_band``."""

    strategy_type = "mean_reversion"
    rule = "bollinger"
    parameters_model = BollingerParameters
    parameters: BollingerParameters

    def required_features(self) -> set[str]:
        return {feature_name("zscore", self.parameters.window)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        z = features[feature_name("zscore", p.window)]
        return hold_until_exit(enter_long=z < -p.entry_band, exit_long=z > -p.exit_band,
                               enter_short=z > p.entry_band, exit_short=z < p.exit_band,
                               known=z.notna())
