"""The strategy interface and its registry.

A strategy is a pure function of wide feature panels: it names the features it needs and
returns, per date and instrument, a signal strength in [-1, 1] (sign = direction).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict


class StrategyParameters(BaseModel):
    """Base of every strategy's typed parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Strategy(ABC):
    """A signal rule. Subclasses set ``strategy_type``, ``rule`` and ``parameters_model``."""

    strategy_type: ClassVar[str]
    rule: ClassVar[str]
    parameters_model: ClassVar[type[StrategyParameters]]

    def __init__(self, parameters: StrategyParameters) -> None:
        self.parameters = parameters

    @abstractmethod
    def required_features(self) -> set[str]:
        """Names of the features (see :mod:`macroquant.features.catalog`) it reads."""

    @abstractmethod
    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Signal strength in [-1, 1] per date (rows) and instrument (columns); NaN where
        there is not enough history."""


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
