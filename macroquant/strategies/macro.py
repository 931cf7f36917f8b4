"""Macro regime: point-in-time indicators vote risk-on or risk-off; the regime score is
mapped to a tilt per asset class.

Inputs come through :class:`~macroquant.strategies.base.StrategyInputs.macro`: for each
date, each series' value as *public on that date* (the signals stage fills it with
:func:`macroquant.economics.point_in_time.read_panel_as_of`, and with the close for a name
that is a market instrument such as ``VIX``), so no rule here can see a later release.

Each enabled indicator votes risk-off (1) or risk-on (0) per date; NaN while its inputs
are unknown. ``score = 1 - 2 * (risk-off votes / known votes)`` is +1 when all say
risk-on and -1 when all say risk-off; an instrument's strength is
``clip(score * tilt[asset class], -1, 1)`` and its confidence the share of indicators known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from macroquant.strategies.base import (
    SignalFrame,
    Strategy,
    StrategyInputs,
    StrategyParameters,
    register,
)

YEAR = 252
QUARTER = 63


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class YieldCurveRule(_Rule):
    """Risk-off when ``long - short`` (percentage points) is below ``min_slope``."""

    long_series: str = "AAA"
    short_series: str = "US_TBILL_3M_Q"
    min_slope: float = 0.0


class InflationRule(_Rule):
    """Risk-off when the year-on-year change of the price index (as known each day) has
    risen by more than ``max_rise`` (fraction, 0.005 = half a point) over a quarter."""

    series: str = "CPILFESL"
    max_rise: float = Field(0.005, ge=0)


class UnemploymentRule(_Rule):
    """Sahm-style: risk-off when the unemployment rate known today is ``min_rise`` points
    or more above its lowest known value of the past year."""

    series: str = "US_UNEMPLOYMENT_Q"
    min_rise: float = Field(0.5, gt=0)


class CreditSpreadRule(_Rule):
    """Risk-off when ``high_yield - high_grade`` (BAA - AAA, points) exceeds ``max_spread``."""

    high_yield: str = "BAA"
    high_grade: str = "AAA"
    max_spread: float = Field(1.5, gt=0)


class VixRule(_Rule):
    """Risk-off when the VIX close is above ``max_level``."""

    series: str = "VIX"
    max_level: float = Field(25.0, gt=0)


DEFAULT_TILTS = {"equity_index": 1.0, "single_stock": 1.0, "commodity": 0.5, "crypto": 0.5,
                 "fx": 0.0, "volatility": -1.0, "rates_credit": -0.5}


class MacroRegimeParameters(StrategyParameters):
    yield_curve: YieldCurveRule | None = Field(default_factory=YieldCurveRule)
    inflation: InflationRule | None = Field(default_factory=InflationRule)
    unemployment: UnemploymentRule | None = Field(default_factory=UnemploymentRule)
    credit_spread: CreditSpreadRule | None = Field(default_factory=CreditSpreadRule)
    vix: VixRule | None = Field(default_factory=VixRule)
    tilts: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TILTS),
                                    description="asset class → strength when fully risk-on "
                                    "(its negative when fully risk-off); others get 0")


def _vote(condition: pd.Series, *inputs: pd.Series) -> pd.Series:
    known = pd.concat(inputs, axis=1).notna().all(axis=1)
    return condition.astype(float).where(known)


def risk_off_votes(macro: pd.DataFrame, p: MacroRegimeParameters) -> pd.DataFrame:
    """One column per enabled indicator: 1 risk-off, 0 risk-on, NaN unknown."""
    votes: dict[str, pd.Series] = {}
    if p.yield_curve is not None:
        long, short = macro[p.yield_curve.long_series], macro[p.yield_curve.short_series]
        votes["yield_curve"] = _vote(long - short < p.yield_curve.min_slope, long, short)
    if p.inflation is not None:
        level = macro[p.inflation.series]
        yoy = level / level.shift(YEAR) - 1.0
        rise = yoy - yoy.shift(QUARTER)
        votes["inflation"] = _vote(rise > p.inflation.max_rise, rise)
    if p.unemployment is not None:
        rate = macro[p.unemployment.series]
        low = rate.rolling(YEAR, min_periods=YEAR).min()
        votes["unemployment"] = _vote(rate - low >= p.unemployment.min_rise, rate, low)
    if p.credit_spread is not None:
        spread = macro[p.credit_spread.high_yield] - macro[p.credit_spread.high_grade]
        votes["credit_spread"] = _vote(spread > p.credit_spread.max_spread, spread)
    if p.vix is not None:
        vix = macro[p.vix.series]
        votes["vix"] = _vote(vix > p.vix.max_level, vix)
    return pd.DataFrame(votes, index=macro.index)


@register
class MacroRegime(Strategy):
    """Risk-on / risk-off tilts per asset class from point-in-time macro indicators."""

    strategy_type = "macro"
    rule = "regime"
    parameters_model = MacroRegimeParameters
    parameters: MacroRegimeParameters

    def required_features(self) -> set[str]:
        return {"close"}  # only for the date index and the universe's columns

    def required_macro(self) -> set[str]:
        p = self.parameters
        names: set[str] = set()
        if p.yield_curve is not None:
            names |= {p.yield_curve.long_series, p.yield_curve.short_series}
        if p.inflation is not None:
            names.add(p.inflation.series)
        if p.unemployment is not None:
            names.add(p.unemployment.series)
        if p.credit_spread is not None:
            names |= {p.credit_spread.high_yield, p.credit_spread.high_grade}
        if p.vix is not None:
            names.add(p.vix.series)
        return names

    def generate_signals(self, inputs: StrategyInputs) -> SignalFrame:
        close = inputs.features["close"]
        missing = sorted(self.required_macro() - set(inputs.macro.columns))
        if missing:
            raise KeyError(f"macro regime needs the series {missing}, which were not given")
        votes = risk_off_votes(inputs.macro.reindex(close.index), self.parameters)
        known = votes.notna().sum(axis=1)
        score = (1.0 - 2.0 * votes.sum(axis=1) / known.where(known > 0))
        classes = inputs.asset_classes.reindex(close.columns)
        tilt = np.array([self.parameters.tilts.get(c, 0.0) if isinstance(c, str) else 0.0
                         for c in classes])
        strength = pd.DataFrame(np.clip(np.outer(score.to_numpy(), tilt), -1.0, 1.0),
                                index=close.index, columns=close.columns)
        share = (known / votes.shape[1]).to_numpy() if votes.shape[1] else np.zeros(len(close))
        confidence = pd.DataFrame(np.repeat(share[:, None], close.shape[1], axis=1),
                                  index=close.index, columns=close.columns)
        return SignalFrame(strength=strength, confidence=confidence.where(strength.notna()))
