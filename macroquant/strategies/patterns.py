"""Price-pattern built-ins: TA-Lib candlestick patterns and support/resistance breakouts.

Confirmation rules (both only ever look backwards):

- candlesticks: a pattern completed on day ``t`` counts only if day ``t+1`` closes in its
  direction (above day ``t``'s close for a bullish pattern, below for a bearish one); the
  signal starts on ``t+1`` and is held for ``hold`` sessions (a newer confirmed pattern
  replaces it). Several patterns: the latest confirmed one wins; opposite ones on the same
  day cancel.
- breakouts: resistance is the highest close of the ``window`` sessions before the move;
  a breakout is confirmed when ``confirm_sessions`` consecutive closes stay above
  ``resistance * (1 + buffer)``. The long is held until the close falls below the channel
  midpoint ``(resistance + support) / 2``. Short breakouts below support mirror this.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from macroquant.features.catalog import CANDLE, feature_name
from macroquant.strategies.base import Strategy, StrategyParameters, register
from macroquant.strategies.positions import hold_until_exit


class CandlestickParameters(StrategyParameters):
    patterns: tuple[str, ...] = Field(("CDLENGULFING", "CDLHAMMER", "CDLSHOOTINGSTAR"),
                                      min_length=1)
    hold: int = Field(5, ge=1, le=250, description="sessions a confirmed pattern is held")

    @field_validator("patterns")
    @classmethod
    def _talib_names(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        import talib

        unknown = [p for p in patterns if not (p.startswith("CDL") and hasattr(talib, p))]
        if unknown:
            raise ValueError(f"unknown TA-Lib candlestick patterns {unknown}")
        return patterns


@register
class CandlestickPatterns(Strategy):
    """TA-Lib candlestick patterns, confirmed by the next close, held ``hold`` sessions."""

    strategy_type = "price_pattern"
    rule = "candlestick"
    parameters_model = CandlestickParameters
    parameters: CandlestickParameters

    def required_features(self) -> set[str]:
        return {"close", *(feature_name(CANDLE, p) for p in self.parameters.patterns)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        close = features["close"]
        votes = sum(features[feature_name(CANDLE, p)].fillna(0.0)
                    for p in self.parameters.patterns)
        pattern = np.sign(votes).shift(1)  # completed yesterday
        move = np.sign(close - close.shift(1))
        confirmed = pattern.where((pattern != 0) & (move == pattern))
        held = confirmed.ffill(limit=self.parameters.hold - 1).fillna(0.0)
        return held.where(close.notna() & close.shift(1).notna())


class BreakoutParameters(StrategyParameters):
    window: int = Field(60, ge=2, le=1000, description="sessions defining support/resistance")
    confirm_sessions: int = Field(2, ge=1, le=20)
    buffer: float = Field(0.01, ge=0, lt=0.5, description="fraction beyond the level")


@register
class SupportResistanceBreakout(Strategy):
    """Confirmed breakout of the prior ``window``-session closing range; see the module
    docstring for the confirmation and exit rule. Strength ±1."""

    strategy_type = "price_pattern"
    rule = "support_resistance_breakout"
    parameters_model = BreakoutParameters
    parameters: BreakoutParameters

    def required_features(self) -> set[str]:
        w = self.parameters.window
        return {"close", feature_name("channel_high", w), feature_name("channel_low", w)}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        p = self.parameters
        close = features["close"]
        high = features[feature_name("channel_high", p.window)]
        low = features[feature_name("channel_low", p.window)]
        lag = p.confirm_sessions - 1
        resistance, support = high.shift(lag), low.shift(lag)  # levels before the move
        above = pd.DataFrame(True, index=close.index, columns=close.columns)
        below = above.copy()
        for k in range(p.confirm_sessions):
            above &= close.shift(k) > resistance * (1 + p.buffer)
            below &= close.shift(k) < support * (1 - p.buffer)
        middle = (high + low) / 2
        return hold_until_exit(enter_long=above, exit_long=close < middle,
                               enter_short=below, exit_short=close > middle,
                               known=close.notna() & resistance.notna() & middle.notna())
