"""An example custom strategy: the sign of the past return, with a dead zone.

Use it from a strategy YAML file with ``class: my_momentum:SignMomentum`` (see
``include/examples/custom_momentum.yaml``). MacroQuant finds this file because it sits in a
``plugins/`` folder beside the YAML's folder; a module on ``PYTHONPATH`` or an installed
package works too (``class: mypackage.rules:SignMomentum``).

A custom strategy is a subclass of ``Strategy`` with a typed ``parameters_model``, the
features it reads, and a pure ``generate`` returning strength in [-1, 1] per date and
instrument. See docs/strategies.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import Field

from macroquant.strategies.base import Strategy, StrategyParameters


class SignMomentumParameters(StrategyParameters):
    lookback: int = Field(60, ge=2, le=1000, description="sessions of past return")
    dead_zone: float = Field(0.02, ge=0, description="no position while |return| is below")


class SignMomentum(Strategy):
    """+1 after a rise of more than ``dead_zone`` over ``lookback`` sessions, -1 after a
    fall of more than it, 0 in between."""

    strategy_type = "custom"
    rule = "sign_momentum"
    parameters_model = SignMomentumParameters
    parameters: SignMomentumParameters

    def required_features(self) -> set[str]:
        return {f"momentum:{self.parameters.lookback}"}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        past = features[f"momentum:{self.parameters.lookback}"]
        strength = np.sign(past).where(past.abs() >= self.parameters.dead_zone, 0.0)
        return strength.where(past.notna())
