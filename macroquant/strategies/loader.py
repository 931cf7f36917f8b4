"""Strategy YAML files: a strict, typed schema; errors name the file and the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from macroquant.config.settings import config_error_from_validation, read_yaml_mapping
from macroquant.errors import ConfigError
from macroquant.strategies import (  # noqa: F401  (imported to @register the built-ins)
    builtin,
    macro,
    mean_reversion,
    ml,
    moving_average,
    patterns,
    trend,
)
from macroquant.strategies.base import Strategy, registered_rules, strategy_class
from macroquant.strategies.plugins import load_custom_class

CUSTOM_TYPE = "custom"


class SizingConfig(BaseModel):
    """How the backtester and the portfolio stage turn strengths into positions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["volatility_target", "full_equity", "equal_weight"] = "volatility_target"


class ExecutionConfig(BaseModel):
    """When a signal trades and what it costs; ``None`` means the trading configuration's
    default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    price: Literal["next_open", "next_close"] = "next_open"
    commission_bps: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0)
    commission_per_share: float | None = Field(None, ge=0)
    spread_bps: float | None = Field(None, ge=0)
    max_volume_participation: float | None = Field(None, gt=0, le=1)


class FilterConfig(BaseModel):
    """Signal filters applied after ``generate`` (see :mod:`macroquant.strategies.filters`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_strength: float = Field(0.0, ge=0, lt=1, description="|strength| below this is 0")
    half_life: float | None = Field(None, gt=0, description="sessions for an unchanged "
                                    "signal to fade to half its strength")
    anomaly_gate: bool = Field(True, description="no signal on an instrument whose data "
                               "checks failed that day")


class MonitoringConfig(BaseModel):
    """Bounds on a strategy's live and backtest performance; leaving them logs an alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(63, ge=5, le=2520, description="sessions in the rolling Sharpe")
    min_rolling_sharpe: float | None = None
    max_drawdown: float | None = Field(None, gt=0, le=1)


class StrategyConfig(BaseModel):
    """One strategy file. ``parameters`` are checked by the rule's own typed model.

    A built-in names ``type`` and ``rule``; a custom strategy names ``class:
    package.module:ClassName`` instead (its ``type`` is then ``custom`` and its ``rule`` the
    class path).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    type: str
    rule: str
    class_path: str | None = Field(None, alias="class",
                                   pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    description: str = ""
    universe: list[str] = Field(min_length=1)
    weight: float = Field(1.0, gt=0, le=1, description="share of the portfolio's risk budget")
    enabled: bool = True
    parameters: dict[str, object] = Field(default_factory=dict)
    long_only: bool = False
    sizing: SizingConfig = Field(default_factory=SizingConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)

    @model_validator(mode="before")
    @classmethod
    def _custom_class_names_type_and_rule(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("class") is not None:
            data = dict(data)
            if data.setdefault("type", CUSTOM_TYPE) != CUSTOM_TYPE:
                raise ValueError(f"a strategy with 'class' has type '{CUSTOM_TYPE}' (or none)")
            data.setdefault("rule", data["class"])
        return data


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


def _strategy_class_for(path: Path, config: StrategyConfig) -> type[Strategy]:
    """The registered built-in or the imported custom class a file names."""
    if config.class_path is not None:
        return load_custom_class(path, config.class_path)
    try:
        return strategy_class(config.type, config.rule)
    except KeyError:
        rules = registered_rules()
        field = "type" if config.type not in rules else "rule"
        known = "; ".join(f"type {t}: rules {', '.join(r)}" for t, r in rules.items())
        raise ConfigError(str(path), field,
                          f"unknown strategy {config.type}/{config.rule} ({known})") from None


def load_strategy_file(path: Path) -> LoadedStrategy:
    """Validate one strategy YAML file and instantiate its rule."""
    data = read_yaml_mapping(path)
    try:
        config = StrategyConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(path, exc) from exc
    cls = _strategy_class_for(path, config)
    try:
        parameters = cls.parameters_model.model_validate(config.parameters)
    except ValidationError as exc:
        error = config_error_from_validation(path, exc)
        field = "parameters" if error.field == "<root>" else f"parameters.{error.field}"
        raise ConfigError(str(path), field, str(error).split(": ", 2)[-1]) from exc
    if len(set(config.universe)) != len(config.universe):
        raise ConfigError(str(path), "universe", "lists an instrument twice")
    try:
        strategy = cls(parameters)
    except Exception as exc:  # a custom class's constructor is user code
        raise ConfigError(str(path), "class" if config.class_path else "rule",
                          f"creating {config.rule} failed: {type(exc).__name__}: {exc}") from exc
    return LoadedStrategy(config=config, source_file=str(path), strategy=strategy)


# A strategy file's blocks that only the one-strategy research backtest reads; in the book
# (the strategies folder, traded by the daily run and replayed by the book backtest) these
# settings belong to the trading configuration, so a file that sets them is refused rather
# than silently acting on one path only.
RESEARCH_ONLY_FIELDS = {
    "sizing": "the book sizes every strategy with the trading configuration's `portfolio` "
              "section (volatility target, allocation, buffer)",
    "execution": "the book's fills and costs are the trading configuration's `broker` "
                 "section (commission_bps, slippage_bps)",
}


def check_book_file(item: LoadedStrategy) -> None:
    """Refuse a book strategy file that sets a research-only block (see
    :data:`RESEARCH_ONLY_FIELDS`), naming the file, the field and where it lives now."""
    for name, where in RESEARCH_ONLY_FIELDS.items():
        if name in item.config.model_fields_set:
            raise ConfigError(item.source_file, name,
                              f"acts only in a one-strategy backtest (`macroquant backtest "
                              f"FILE`); {where}. Remove it from this file, or keep the file "
                              "outside the strategies folder for research")


# A ``stops`` key of the trading configuration that applies to every strategy, so no
# strategy may take this name.
RESERVED_NAMES = frozenset({"default"})


def load_book(directory: Path) -> list[LoadedStrategy]:
    """Every strategy file in ``directory`` (``*.yaml``/``*.yml``), enabled or not, sorted
    by name: the book the signals stage reconciles the ``strategies`` table with.

    Any invalid file stops the load: nothing runs on a half-valid configuration. Two files
    naming one strategy are an error naming both files. A file with a research-only block
    (``sizing:``, ``execution:``) is invalid here (:func:`check_book_file`).
    """
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError(str(directory), "<directory>", "holds no strategy *.yaml files")
    loaded = [load_strategy_file(path) for path in files]
    for item in loaded:
        if item.config.name in RESERVED_NAMES:
            raise ConfigError(item.source_file, "name",
                              f"'{item.config.name}' is reserved (the trading configuration's "
                              "stops section uses it for every strategy); choose another name")
    by_name: dict[str, list[str]] = {}
    for item in loaded:
        by_name.setdefault(item.config.name, []).append(Path(item.source_file).name)
    duplicates = {name: files for name, files in sorted(by_name.items()) if len(files) > 1}
    if duplicates:
        name, names = next(iter(duplicates.items()))
        raise ConfigError(str(directory), "name",
                          f"strategy '{name}' is named by more than one file: "
                          f"{' and '.join(names)} (each strategy has one file; rename one)"
                          + (f"; also {sorted(duplicates)[1:]}" if len(duplicates) > 1 else ""))
    weights = sum(item.config.weight for item in loaded if item.config.enabled)
    if weights > 1 + 1e-9:
        raise ConfigError(str(directory), "weight",
                          f"enabled strategies' weights add up to {weights:.3f} > 1")
    for item in loaded:
        check_book_file(item)
    return sorted(loaded, key=lambda s: s.config.name)


def load_strategies(directory: Path) -> list[LoadedStrategy]:
    """Every enabled strategy in ``directory``, sorted by name (see :func:`load_book`)."""
    return [item for item in load_book(directory) if item.config.enabled]
