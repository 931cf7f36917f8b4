"""The strategy interface and its registry.

A strategy is a pure function of wide panels: it names the features it needs (and, for
macro rules, the economic series) and returns, per date and instrument, a signal strength
in [-1, 1] (sign = direction) with a confidence in [0, 1].

Two entry points, of which a subclass overrides at least one:

- ``generate(features) -> strength`` for rules that read only feature panels;
- ``generate_signals(inputs) -> SignalFrame`` for rules that also read point-in-time macro
  series or instrument metadata, or that report a confidence.

Each defaults to the other, so every strategy answers both.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict


class StrategyParameters(BaseModel):
    """Base of every strategy's typed parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame()


def _empty_series() -> pd.Series:
    return pd.Series(dtype=object)


@dataclass(frozen=True)
class StrategyInputs:
    """Everything a strategy may read, all as known at each row's date.

    ``features``: named feature panels (dates × instruments). ``macro``: point-in-time
    economic series (dates × series_id; the value public on that date, see
    :func:`macroquant.economics.point_in_time.read_panel_as_of`). ``asset_classes``:
    instrument (column label) → asset class.
    """

    features: Mapping[str, pd.DataFrame]
    macro: pd.DataFrame = field(default_factory=_empty_frame)
    asset_classes: pd.Series = field(default_factory=_empty_series)


@dataclass(frozen=True)
class SignalFrame:
    """A strategy's output: ``strength`` in [-1, 1] and ``confidence`` in [0, 1], both
    dates × instruments; direction is ``sign(strength)``."""

    strength: pd.DataFrame
    confidence: pd.DataFrame

    @property
    def direction(self) -> pd.DataFrame:
        return np.sign(self.strength)


class Strategy(ABC):
    """A signal rule. Subclasses set ``strategy_type``, ``rule`` and ``parameters_model``
    and override ``generate`` or ``generate_signals`` (or both)."""

    strategy_type: ClassVar[str]
    rule: ClassVar[str]
    parameters_model: ClassVar[type[StrategyParameters]]

    def __init__(self, parameters: StrategyParameters) -> None:
        self.parameters = parameters

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        own = {name for klass in cls.__mro__[:-1] if klass is not Strategy
               for name in vars(klass)}
        if not inspect.isabstract(cls) and not {"generate", "generate_signals"} & own:
            raise TypeError(f"{cls.__name__} must override generate or generate_signals")

    @abstractmethod
    def required_features(self) -> set[str]:
        """Names of the features (see :mod:`macroquant.features.catalog`) it reads."""

    def required_macro(self) -> set[str]:
        """``series_id`` of the economic series it reads point-in-time (none by default)."""
        return set()

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Signal strength in [-1, 1] per date (rows) and instrument (columns); NaN where
        there is not enough history."""
        return self.generate_signals(StrategyInputs(features=features)).strength

    def generate_signals(self, inputs: StrategyInputs) -> SignalFrame:
        """Strength and confidence; by default ``generate`` with confidence 1 where the
        strength is known."""
        strength = self.generate(inputs.features)
        return SignalFrame(strength=strength, confidence=strength.notna().astype(float))


_REGISTRY: dict[tuple[str, str], type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator adding a strategy to the registry under ``(type, rule)``."""
    _REGISTRY[(cls.strategy_type, cls.rule)] = cls
    return cls


def strategy_class(strategy_type: str, rule: str) -> type[Strategy]:
    """The registered class for ``(strategy_type, rule)``; KeyError lists what exists."""
    try:
        return _REGISTRY[(strategy_type, rule)]
    except KeyError:
        known = ", ".join(f"{t}/{r}" for t, r in sorted(_REGISTRY))
        raise KeyError(f"no strategy '{strategy_type}' with rule '{rule}'; known: {known}") from None


def registered_rules() -> dict[str, list[str]]:
    """Strategy types and their rules, for error messages and docs."""
    rules: dict[str, list[str]] = {}
    for strategy_type, rule in sorted(_REGISTRY):
        rules.setdefault(strategy_type, []).append(rule)
    return rules
