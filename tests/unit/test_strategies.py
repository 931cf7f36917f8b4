"""Strategy rules by hand, and the strict YAML schema's error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from macroquant.config.settings import INCLUDE_DIR
from macroquant.errors import ConfigError
from macroquant.strategies.builtin import (
    EwmaCrossover,
    EwmaCrossoverParameters,
    ZScoreParameters,
    ZScoreReversion,
)
from macroquant.strategies.loader import load_strategies, load_strategy_file

GOOD = """name: {name}
type: trend_following
rule: ewma_crossover
universe: [SPX, IXIC]
weight: 0.5
parameters: {{fast_span: 8, slow_span: 32}}
"""


def test_ewma_crossover_strength_by_hand():
    strategy = EwmaCrossover(EwmaCrossoverParameters(fast_span=2, slow_span=4,
                                                     volatility_span=5, forecast_scalar=4.0))
    features = {"ewma:2": pd.DataFrame({"x": [10.0, 10.0]}),
                "ewma:4": pd.DataFrame({"x": [9.0, 12.0]}),
                "price_volatility:5": pd.DataFrame({"x": [0.5, 0.5]})}
    # (10-9)/0.5*4 = 8 -> 8/20 = 0.4 ; (10-12)/0.5*4 = -16 -> -0.8
    assert strategy.generate(features)["x"].tolist() == pytest.approx([0.4, -0.8])
    features["price_volatility:5"] = pd.DataFrame({"x": [0.01, 0.0]})
    out = strategy.generate(features)["x"]
    assert out.iloc[0] == 1.0 and np.isnan(out.iloc[1])  # capped; zero vol gives no signal


def test_zscore_reversion_strength_by_hand():
    strategy = ZScoreReversion(ZScoreParameters(window=20, entry_z=1.0, cap_z=3.0))
    z = pd.DataFrame({"x": [0.5, 1.0, 2.0, -2.5, 4.0, np.nan]})
    out = strategy.generate({"zscore:20": z})["x"].tolist()
    assert out[:5] == pytest.approx([0.0, 0.0, -0.5, 0.75, -1.0])
    assert np.isnan(out[5])


def test_shipped_strategies_load():
    loaded = load_strategies(INCLUDE_DIR / "strategies")
    assert [s.config.name for s in loaded] == ["ewma_trend", "zscore_reversion"]
    assert {s.config.type for s in loaded} == {"trend_following", "mean_reversion"}


@pytest.mark.parametrize(("text", "field", "message"), [
    (GOOD.format(name="a_b") + "colour: red\n", "colour", "unknown key"),
    (GOOD.format(name="a_b").replace("weight: 0.5", "weight: lots"), "weight", "number"),
    (GOOD.format(name="a_b").replace("slow_span: 32", "slow_spam: 32"),
     "parameters.slow_spam", "unknown key"),
    (GOOD.format(name="a_b").replace("fast_span: 8", "fast_span: 64"),
     "parameters", "fast_span must be smaller"),
    (GOOD.format(name="a_b").replace("rule: ewma_crossover", "rule: magic"), "rule",
     "unknown strategy trend_following/magic"),
    (GOOD.format(name="a_b").replace("universe: [SPX, IXIC]", "universe: []"), "universe",
     "at least 1"),
    ("name: x\n  bad: [indent", "<yaml>", "not valid YAML"),
    ("- just\n- a list\n", "<root>", "mapping"),
])
def test_invalid_strategy_files_name_the_file_and_field(tmp_path: Path, text, field, message):
    path = tmp_path / "strategy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_strategy_file(path)
    assert error.value.path == str(path)
    assert error.value.field == field
    assert message in str(error.value)


def test_weights_above_one_and_duplicate_names_are_refused(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(GOOD.format(name="one").replace("0.5", "0.7"))
    (tmp_path / "b.yaml").write_text(GOOD.format(name="two").replace("0.5", "0.7"))
    with pytest.raises(ConfigError, match="add up to 1.400"):
        load_strategies(tmp_path)
    (tmp_path / "b.yaml").write_text(GOOD.format(name="one").replace("0.5", "0.2"))
    with pytest.raises(ConfigError, match="strategy .one. is named by more than one file: "
                                          "a.yaml and b.yaml"):
        load_strategies(tmp_path)
