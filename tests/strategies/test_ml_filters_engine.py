"""Walk-forward fits see no future; filters by hand; a raising strategy is isolated."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from macroquant.features.catalog import compute_features
from macroquant.strategies.base import Strategy, StrategyInputs, StrategyParameters
from macroquant.strategies.builtin import ZScoreParameters, ZScoreReversion
from macroquant.strategies.engine import StrategyJob, run_jobs
from macroquant.strategies.filters import apply_filters, decay, minimum_strength
from macroquant.strategies.loader import FilterConfig
from macroquant.strategies.ml import WalkForwardClassifier, WalkForwardParameters


def random_walks(days: int, instruments: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0002, 0.01, (days, instruments))
    index = pd.bdate_range("2001-01-01", periods=days)
    return pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), index=index,
                        columns=[f"i{k}" for k in range(instruments)])


@pytest.mark.parametrize("model", ["logistic_regression", "gradient_boosting"])
def test_walk_forward_fit_at_d_ignores_everything_after_d(model):
    params = WalkForwardParameters(model=model, features=("momentum:20", "zscore:20"),
                                   horizon=5, refit_every=50, train_window=200,
                                   min_train_rows=50)
    rule = WalkForwardClassifier(params)
    close = random_walks(600, 4)
    full = compute_features(rule.required_features(), close, close)
    d = 300
    cut = close.iloc[: d + 1]
    truncated = compute_features(rule.required_features(), cut, cut)
    a, b = rule.fit_at(full, d), rule.fit_at(truncated, d)
    probe = np.array([[0.05, 1.0], [-0.03, -2.0], [0.0, 0.0]])
    np.testing.assert_array_equal(a.predict_proba(probe), b.predict_proba(probe))
    # and the signal on every date up to d is the same with or without the later data
    s_full = rule.generate_signals(StrategyInputs(features=full)).strength
    s_cut = rule.generate_signals(StrategyInputs(features=truncated)).strength
    pd.testing.assert_frame_equal(s_full.iloc[: d + 1], s_cut)
    assert s_full.iloc[:50].isna().all().all()  # nothing before the first refit
    assert s_full.iloc[300:].notna().all().all()


def test_walk_forward_learns_a_planted_pattern():
    # after a positive feature the price drifts up for 5 days (and down after a negative
    # one); the 5-day label also carries the four earlier days' drifts, so ~94% is the
    # best any rule can agree with the feature's sign
    rng = np.random.default_rng(4)
    days, n = 900, 3
    feature = pd.DataFrame(rng.normal(0, 1, (days, n)), index=pd.bdate_range("2001-01-01",
                                                                             periods=days))
    drift = np.sign(feature.to_numpy())[:-5]
    returns = np.zeros((days, n))
    for k in range(1, 6):
        returns[k:days - 5 + k] += drift * 0.01 / 5
    close = pd.DataFrame(100 * np.exp(np.cumsum(returns + rng.normal(0, 1e-4, (days, n)),
                                                axis=0)), index=feature.index)
    rule = WalkForwardClassifier(WalkForwardParameters(features=("momentum:20",), horizon=5,
                                                       refit_every=100, train_window=300))
    out = rule.generate_signals(StrategyInputs(features={"close": close,
                                                         "momentum:20": feature}))
    later = out.strength.iloc[400:-5]
    agree = (np.sign(later.to_numpy()) == np.sign(feature.iloc[400:-5].to_numpy())).mean()
    assert agree > 0.9
    assert out.confidence.equals(out.strength.abs())


def test_decay_halves_an_unchanged_signal_every_half_life():
    out = decay(pd.DataFrame({"x": [1.0, 1.0, 1.0, 0.5, 0.5, np.nan, 0.5]}), half_life=1)
    assert out["x"].tolist()[:5] == [1.0, 0.5, 0.25, 0.5, 0.25]
    assert np.isnan(out["x"].iloc[5]) and out["x"].iloc[6] == 0.5  # a gap restarts the age


def test_minimum_strength_and_anomaly_gate():
    s = pd.DataFrame({"a": [0.05, -0.2, np.nan], "b": [0.5, 0.5, 0.5]})
    assert minimum_strength(s, 0.1)["a"].tolist()[:2] == [0.0, -0.2]
    flagged = pd.DataFrame({"b": [False, True, False]})
    out = apply_filters(s, FilterConfig(min_strength=0.1), flagged)
    assert out["b"].isna().tolist() == [False, True, False]
    ungated = apply_filters(s, FilterConfig(anomaly_gate=False), flagged)
    assert ungated["b"].tolist() == [0.5, 0.5, 0.5]


class Boom(Strategy):
    strategy_type = "custom"
    rule = "boom"
    parameters_model = StrategyParameters

    def required_features(self) -> set[str]:
        return {"zscore:20"}

    def generate(self, features: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        raise RuntimeError("division by zero in my rule")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_raising_strategy_is_skipped_and_the_others_run(workers):
    z = pd.DataFrame({1: [2.0, -3.0], 2: [0.5, np.nan]},
                     index=pd.bdate_range("2020-01-01", periods=2))
    jobs = [StrategyJob("boom", Boom(StrategyParameters()), [1, 2]),
            StrategyJob("zs", ZScoreReversion(ZScoreParameters()), [1, 2], long_only=True)]
    result = run_jobs(jobs, {"zscore:20": z}, workers=workers)
    assert result.errors == {"boom": "RuntimeError: division by zero in my rule"}
    rows = result.signals["zs"]
    # z=2 -> -0.5 clipped to 0 (long only); z=-3 -> +1; z=0.5 -> 0; NaN dropped
    assert rows["strength"].tolist() == [0.0, 0.0, 1.0]
    assert rows["direction"].tolist() == [0, 0, 1] and set(rows["confidence"]) == {1.0}
    assert "boom" not in result.signals
