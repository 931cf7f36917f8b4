"""Machine-learning built-in: a scikit-learn classifier refit walk-forward.

At each refit date ``d`` (every ``refit_every`` sessions) one model is fitted on the pooled
rows ``(t, instrument)`` of the trailing ``train_window`` sessions whose label is already
known at ``d``: the label is "the close ``horizon`` sessions later is higher", so only rows
with ``t + horizon <= d`` are used. The model then predicts every date from ``d`` up to the
next refit. Nothing after ``d`` enters the fit at ``d`` (tested by truncating the data).

Strength is ``2 p - 1`` for the predicted probability ``p`` of a rise; confidence is
``|2 p - 1|``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from macroquant.features.catalog import parse_feature
from macroquant.strategies.base import (
    SignalFrame,
    Strategy,
    StrategyInputs,
    StrategyParameters,
    register,
)

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin


class WalkForwardParameters(StrategyParameters):
    model: Literal["logistic_regression", "gradient_boosting"] = "logistic_regression"
    features: tuple[str, ...] = Field(("momentum:20", "momentum:60", "zscore:20", "rsi:14"),
                                      min_length=1)
    horizon: int = Field(5, ge=1, le=250, description="sessions ahead the label looks")
    refit_every: int = Field(63, ge=1, le=2520)
    train_window: int = Field(756, ge=20, le=10080)
    min_train_rows: int = Field(200, ge=10)
    regularisation: float = Field(1.0, gt=0, description="logistic C (inverse strength)")
    seed: int = 0


def _check_features(names: tuple[str, ...]) -> None:
    for name in names:
        parse_feature(name)  # raises ValueError naming an unknown feature


@register
class WalkForwardClassifier(Strategy):
    """Logistic regression or gradient boosting on features, refit walk-forward."""

    strategy_type = "machine_learning"
    rule = "walk_forward_classifier"
    parameters_model = WalkForwardParameters
    parameters: WalkForwardParameters

    def __init__(self, parameters: WalkForwardParameters) -> None:
        _check_features(parameters.features)
        super().__init__(parameters)

    def required_features(self) -> set[str]:
        return {"close", *self.parameters.features}

    def _new_model(self) -> ClassifierMixin:
        # scikit-learn is imported here so loading strategy files stays fast
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        p = self.parameters
        if p.model == "gradient_boosting":
            return GradientBoostingClassifier(n_estimators=50, max_depth=2,
                                              random_state=p.seed)
        return make_pipeline(StandardScaler(), LogisticRegression(C=p.regularisation))

    def _design(self, features: Mapping[str, pd.DataFrame]) -> np.ndarray:
        """``dates × instruments × features`` array."""
        return np.stack([features[n].to_numpy(dtype=float) for n in self.parameters.features],
                        axis=-1)

    def _labels(self, close: pd.DataFrame) -> np.ndarray:
        future = close.shift(-self.parameters.horizon).to_numpy(dtype=float)
        now = close.to_numpy(dtype=float)
        labels = np.where(np.isfinite(future) & np.isfinite(now), (future > now) * 1.0, np.nan)
        return labels

    def fit_at(self, features: Mapping[str, pd.DataFrame], d: int) -> ClassifierMixin | None:
        """The model fitted at row position ``d`` (None if too few rows or one class)."""
        p = self.parameters
        last = d - p.horizon  # last row whose label is known at d
        first = max(0, d - p.train_window + 1)
        if last < first:
            return None
        close = features["close"].iloc[: d + 1]  # nothing after d, by construction
        x = self._design({n: features[n].iloc[: d + 1] for n in p.features})[first:last + 1]
        y = self._labels(close)[first:last + 1]
        x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1)
        rows = np.isfinite(x).all(axis=1) & np.isfinite(y)
        if rows.sum() < p.min_train_rows or len(np.unique(y[rows])) < 2:
            return None
        return self._new_model().fit(x[rows], y[rows].astype(int))

    def generate_signals(self, inputs: StrategyInputs) -> SignalFrame:
        p = self.parameters
        close = inputs.features["close"]
        x = self._design(inputs.features)
        probability = np.full(close.shape, np.nan)
        for d in range(p.refit_every, len(close), p.refit_every):
            model = self.fit_at(inputs.features, d)
            if model is None:
                continue
            block = x[d:d + p.refit_every]
            flat = block.reshape(-1, block.shape[-1])
            rows = np.isfinite(flat).all(axis=1)
            predicted = np.full(len(flat), np.nan)
            if rows.any():
                predicted[rows] = model.predict_proba(flat[rows])[:, 1]
            probability[d:d + p.refit_every] = predicted.reshape(block.shape[:2])
        strength = pd.DataFrame(2.0 * probability - 1.0, index=close.index,
                                columns=close.columns)
        return SignalFrame(strength=strength, confidence=strength.abs())
