"""Trend-following built-ins: multi-speed EWMA crossover, Donchian breakout, time-series
momentum. (The single-speed EWMA crossover lives in :mod:`macroquant.strategies.builtin`.)"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from macroquant.features.catalog import feature_name
from macroquant.features.indicators import TRADING_DAYS_PER_YEAR
from macroquant.strategies.base import Strategy, StrategyParameters, register
from macroquant.strategies.builtin import FORECAST_CAP
from macroquant.strategies.positions import hold_until_exit


class Speed(BaseModel):
    """One EWMA pair and the scalar bringing its average |forecast| to about 10."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fast: int = Field(ge=2, le=500)
    slow: int = Field(ge=3, le=1000)
    scalar: float = Field(gt=0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Speed:
        if self.fast >= self.slow:
            raise ValueError("fast must be smaller than slow")
        return self


DEFAULT_SPEEDS = (Speed(fast=8, slow=32, scalar=5.3), Speed(fast=16, slow=64, scalar=3.75),
                  Speed(fast=32, slow=128, scalar=2.65))


class MultiSpeedEwmaParameters(StrategyParameters):
    speeds: tuple[Speed, ...] = Field(DEFAULT_SPEEDS, min_length=1, max_length=8)
    volatility_span: int = Field(36, ge=5, le=500)


@register
class MultiSpeedEwma(Strategy):
    """Trend following over several speeds: each pair's forecast ``(EWMA_fast - EWMA_slow)
    / daily price volatility * scalar``, capped at ±20; the forecasts are averaged with
    equal weights and divided by 20. An instrument needs every speed's history."""

    strategy_type = "trend_following"
    rule = "ewma_multi_speed"
    parameters_model = MultiSpeedEwmaParameters
    parameters: MultiSpeedEwmaParameters

    def required_features(self) -> set[str]:
        p = self.parameters
        names = {feature_name("price_volatility", p.volatility_span)}
        for speed in p.speeds:
            names |= {feature_name("ewma", speed.fast), feature_name("ewma", speed.slow)}
        return names

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        volatility = features[feature_name("price_volatility", p.volatility_span)]
        volatility = volatility.where(volatility > 0)
        total = None
        for speed in p.speeds:
            raw = (features[feature_name("ewma", speed.fast)]
                   - features[feature_name("ewma", speed.slow)]) / volatility
            forecast = (raw * speed.scalar).clip(-FORECAST_CAP, FORECAST_CAP)
            total = forecast if total is None else total + forecast
        assert total is not None
        return total / len(p.speeds) / FORECAST_CAP


class DonchianParameters(StrategyParameters):
    entry_window: int = Field(55, ge=2, le=1000, description="breakout of this many sessions")
    exit_window: int = Field(20, ge=2, le=1000, description="exit on the opposite channel")

    @model_validator(mode="after")
    def _exit_not_longer(self) -> DonchianParameters:
        if self.exit_window > self.entry_window:
            raise ValueError("exit_window must not be longer than entry_window")
        return self


@register
class DonchianBreakout(Strategy):
    """Channel breakout on back-adjusted closes: long when the close rises above the highest
    close of the previous ``entry_window`` sessions, held until it falls below the lowest
    close of the previous ``exit_window`` sessions; short symmetrically. Strength ±1."""

    strategy_type = "trend_following"
    rule = "donchian_breakout"
    parameters_model = DonchianParameters
    parameters: DonchianParameters

    def _names(self) -> tuple[str, str, str, str]:
        p = self.parameters
        return (feature_name("channel_high", p.entry_window),
                feature_name("channel_low", p.entry_window),
                feature_name("channel_high", p.exit_window),
                feature_name("channel_low", p.exit_window))

    def required_features(self) -> set[str]:
        return {"close", *self._names()}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        high_in, low_in, high_out, low_out = (features[n] for n in self._names())
        close = features["close"]
        known = close.notna() & high_in.notna() & low_in.notna()
        return hold_until_exit(enter_long=close > high_in, exit_long=close < low_out,
                               enter_short=close < low_in, exit_short=close > high_out,
                               known=known)


class MomentumParameters(StrategyParameters):
    lookback: int = Field(252, ge=5, le=2520, description="sessions of past return")
    volatility_span: int = Field(36, ge=5, le=500)
    full_strength_sharpe: float = Field(2.0, gt=0, description="risk-adjusted past return "
                                        "(return / volatility over the lookback) giving ±1")


@register
class TimeSeriesMomentum(Strategy):
    """Time-series momentum: the past ``lookback``-session return divided by the volatility
    expected over that horizon (annual return volatility × sqrt(lookback / 252)), divided by
    ``full_strength_sharpe`` and clipped to [-1, 1]."""

    strategy_type = "trend_following"
    rule = "time_series_momentum"
    parameters_model = MomentumParameters
    parameters: MomentumParameters

    def required_features(self) -> set[str]:
        p = self.parameters
        return {feature_name("momentum", p.lookback),
                feature_name("return_volatility", p.volatility_span)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        past = features[feature_name("momentum", p.lookback)]
        volatility = features[feature_name("return_volatility", p.volatility_span)]
        horizon = volatility.where(volatility > 0) * np.sqrt(p.lookback / TRADING_DAYS_PER_YEAR)
        return (past / horizon / p.full_strength_sharpe).clip(-1.0, 1.0)
