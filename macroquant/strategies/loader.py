"""Strategy YAML files: a strict, typed schema; errors name the file and the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from macroquant.config.settings import config_error_from_validation, read_yaml_mapping
from macroquant.errors import ConfigError
from macroquant.strategies import builtin  # noqa: F401  (registers the built-in rules)
from macroquant.strategies.base import Strategy, registered_rules, strategy_class


class StrategyConfig(BaseModel):
    """One strategy file. ``parameters`` are checked by the rule's own typed model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    type: str
    rule: str
    description: str = ""
    universe: list[str] = Field(min_length=1)
    weight: float = Field(gt=0, le=1, description="share of the portfolio's risk budget")
    enabled: bool = True
    parameters: dict[str, object] = Field(default_factory=dict)


class LoadedStrategy(BaseModel):
    """A validated strategy file with its instantiated rule."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config: StrategyConfig
    source_file: str
    strategy: Strategy

    @property
    def config_hash(self) -> str:
        canonical = json.dumps(self.config.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_strategy_file(path: Path) -> LoadedStrategy:
    """Validate one strategy YAML file and instantiate its rule."""
    data = read_yaml_mapping(path)
    try:
        config = StrategyConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(path, exc) from exc
    try:
        cls = strategy_class(config.type, config.rule)
    except KeyError:
        rules = registered_rules()
        field = "type" if config.type not in rules else "rule"
        known = "; ".join(f"type {t}: rules {', '.join(r)}" for t, r in rules.items())
        raise ConfigError(str(path), field,
                          f"unknown strategy {config.type}/{config.rule} ({known})") from None
    try:
        parameters = cls.parameters_model.model_validate(config.parameters)
    except ValidationError as exc:
        error = config_error_from_validation(path, exc)
        field = "parameters" if error.field == "<root>" else f"parameters.{error.field}"
        raise ConfigError(str(path), field, str(error).split(": ", 2)[-1]) from exc
    if len(set(config.universe)) != len(config.universe):
        raise ConfigError(str(path), "universe", "lists an instrument twice")
    return LoadedStrategy(config=config, source_file=str(path), strategy=cls(parameters))


def load_strategies(directory: Path) -> list[LoadedStrategy]:
    """Every enabled strategy in ``directory`` (``*.yaml``/``*.yml``), sorted by name.

    Any invalid file stops the load: nothing runs on a half-valid configuration.
    """
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError(str(directory), "<directory>", "holds no strategy *.yaml files")
    loaded = [load_strategy_file(path) for path in files]
    names = [item.config.name for item in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(str(directory), "name", f"used by more than one file: {duplicates}")
    weights = sum(item.config.weight for item in loaded if item.config.enabled)
    if weights > 1 + 1e-9:
        raise ConfigError(str(directory), "weight",
                          f"enabled strategies' weights add up to {weights:.3f} > 1")
    return sorted((s for s in loaded if s.config.enabled), key=lambda s: s.config.name)
