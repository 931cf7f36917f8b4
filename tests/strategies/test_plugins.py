"""Custom strategies named by ``class: module:Class`` in YAML."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from macroquant.config.settings import INCLUDE_DIR
from macroquant.errors import ConfigError
from macroquant.strategies.loader import load_strategy_file

YAML = """name: custom_one
class: {cls}
universe: [SPX]
weight: 0.1
parameters: {params}
"""


def write(tmp_path: Path, cls: str, params: str = "{}", module: str | None = None,
          name: str = "mod_under_test") -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    if module is not None:
        (plugins / f"{name}.py").write_text(module)
    strategies = tmp_path / "strategies"
    strategies.mkdir(exist_ok=True)
    path = strategies / "custom.yaml"
    path.write_text(YAML.format(cls=cls, params=params))
    return path


def test_shipped_example_loads_and_generates():
    loaded = load_strategy_file(INCLUDE_DIR / "examples" / "custom_momentum.yaml")
    assert (loaded.config.type, loaded.config.rule) == ("custom", "my_momentum:SignMomentum")
    assert loaded.strategy.required_features() == {"momentum:60"}
    past = pd.DataFrame({"SPX": [0.05, -0.01, -0.03, None]})
    out = loaded.strategy.generate({"momentum:60": past})["SPX"].tolist()
    assert out[:3] == [1.0, 0.0, -1.0] and pd.isna(out[3])
    assert loaded.config.filters.half_life == 20
    assert loaded.config.monitoring.max_drawdown == 0.2


GOOD_MODULE = """
from macroquant.strategies.base import Strategy, StrategyParameters
from pydantic import Field

class P(StrategyParameters):
    k: int = Field(3, ge=1)

class Good(Strategy):
    strategy_type = "custom"
    rule = "good"
    parameters_model = P
    def required_features(self):
        return {"close"}
    def generate(self, features):
        return features["close"] * 0 + self.parameters.k / 10

class NotAStrategy:
    pass
"""


@pytest.mark.parametrize(("cls", "module", "message"), [
    ("nowhere_at_all:Thing", None, "importing module 'nowhere_at_all' failed: "
     "ModuleNotFoundError: no module named 'nowhere_at_all'"),
    ("mod_under_test:Missing", GOOD_MODULE, "module 'mod_under_test' has no attribute "
     "'Missing'"),
    ("mod_under_test:NotAStrategy", GOOD_MODULE, "is not a subclass of"),
    ("mod_under_test:Good", "raise ValueError('broken at import')",
     "ValueError: broken at import"),
])
def test_bad_class_paths_name_the_file_and_the_class(tmp_path, cls, module, message):
    path = write(tmp_path, cls, module=module, name=cls.split(":")[0])
    with pytest.raises(ConfigError) as error:
        load_strategy_file(path)
    assert error.value.path == str(path) and error.value.field == "class"
    assert f"custom strategy '{cls}'" in str(error.value)
    assert message in str(error.value)


def test_custom_parameters_are_validated_by_its_model(tmp_path):
    path = write(tmp_path, "mod_good:Good", "{k: 0}", module=GOOD_MODULE, name="mod_good")
    with pytest.raises(ConfigError) as error:
        load_strategy_file(path)
    assert error.value.field == "parameters.k" and "greater than or equal to 1" in str(
        error.value)
    path.write_text(YAML.format(cls="mod_good:Good", params="{k: 5}"))
    loaded = load_strategy_file(path)
    assert loaded.strategy.generate({"close": pd.DataFrame({"a": [1.0]})})["a"][0] == 0.5


def test_class_with_a_builtin_type_is_refused(tmp_path):
    path = write(tmp_path, "mod_good:Good", module=GOOD_MODULE, name="mod_good")
    path.write_text(path.read_text() + "type: trend_following\n")
    with pytest.raises(ConfigError, match="has type 'custom'"):
        load_strategy_file(path)
