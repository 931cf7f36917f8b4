"""Process settings from the environment, and the trading configuration file.

Environment variables (all optional):

- ``MACROQUANT_HOME``: state directory (embedded database, reports); default ``~/.macroquant``.
- ``MACROQUANT_DATABASE_URL``: a PostgreSQL URL; when unset an embedded server (pgserver)
  is started in ``$MACROQUANT_HOME/pgdata``.
- ``MACROQUANT_CONFIG``: the trading configuration YAML; default ``include/macroquant.yaml``.
- ``MACROQUANT_STRATEGIES_DIR``: directory of strategy YAML files; default
  ``include/strategies``.
- ``MACROQUANT_REPORTS_DIR``: where reports are written; default ``$MACROQUANT_HOME/reports``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from macroquant.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"


class Settings(BaseModel):
    """Where MacroQuant keeps its state and finds its configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    database_url: str | None
    config_path: Path
    strategies_dir: Path
    reports_dir: Path

    @property
    def pgdata_dir(self) -> Path:
        """Data directory of the embedded PostgreSQL server."""
        return self.home / "pgdata"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("MACROQUANT_HOME") or Path.home() / ".macroquant").expanduser()
    return Settings(
        home=home,
        database_url=env.get("MACROQUANT_DATABASE_URL") or None,
        config_path=Path(env.get("MACROQUANT_CONFIG") or INCLUDE_DIR / "macroquant.yaml"),
        strategies_dir=Path(env.get("MACROQUANT_STRATEGIES_DIR") or INCLUDE_DIR / "strategies"),
        reports_dir=Path(env.get("MACROQUANT_REPORTS_DIR") or home / "reports"),
    )


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


AssetClass = Literal["equity_index", "single_stock", "fx", "commodity", "volatility",
                     "rates_credit", "crypto"]


class PortfolioConfig(_Strict):
    """Portfolio construction: volatility targeting, allocation across strategies, trading
    buffers (docs/configuration.md, section ``portfolio``)."""

    annual_volatility_target: float = Field(0.10, gt=0, le=1.0)
    volatility_span: int = Field(36, ge=5, description="EWMA span (days) of instrument volatility")
    min_order_notional: float = Field(
        1000.0, ge=0, description="orders smaller than this (in base currency) are not sent"
    )
    allocation: Literal["configured", "inverse_volatility", "risk_parity", "hrp"] = Field(
        "configured", description="how the risk budget is split across strategies")
    correlation_lookback: int = Field(
        250, ge=20, description="sessions of returns for correlations, IDM and allocation")
    max_diversification_multiplier: float = Field(
        2.5, ge=1.0, le=5.0, description="cap of the instrument/strategy diversification "
                                         "multipliers")
    crowding_correlation: float = Field(
        0.7, gt=0, le=1.0, description="strategies whose returns correlate above this share "
                                       "one risk budget")
    buffer_fraction: float = Field(
        0.10, ge=0, le=1.0, description="keep the target while the new one is within this "
                                        "fraction of a full-strength position of it")
    portfolio_volatility_targeting: bool = Field(
        True, description="scale the combined book to the volatility target (ex ante)")
    max_portfolio_scale: float = Field(
        4.0, ge=1.0, le=20.0, description="cap of the portfolio-level volatility scale")
    min_observations: int = Field(
        60, ge=20, description="returns needed before correlations and allocation are used")
    risk_factors: int = Field(
        20, ge=1, le=250, description="principal components of the statistical factor risk "
                                      "model (books above pairwise_risk_max_instruments)")
    pairwise_risk_max_instruments: int = Field(
        500, ge=0, le=5000, description="up to this many instruments, pairwise sample "
                                        "covariances and correlations; above, the factor "
                                        "model")


class DrawdownConfig(_Strict):
    """Portfolio drawdown control: scale down from ``reduce_at``, halt at ``halt_at``."""

    reduce_at: float = Field(0.10, gt=0, lt=1, description="drawdown where scaling starts")
    halt_at: float = Field(0.20, gt=0, lt=1, description="drawdown that halts trading")
    min_scale: float = Field(0.25, ge=0, le=1, description="position scale reached at halt_at")

    @model_validator(mode="after")
    def _ordered(self) -> DrawdownConfig:
        if self.halt_at <= self.reduce_at:
            raise ValueError("halt_at must be deeper (larger) than reduce_at")
        return self


class RiskConfig(_Strict):
    """Limits of the risk stage and of the pre-trade order gate (docs/risk.md). Fractions
    are of trading capital unless stated otherwise."""

    max_position_fraction: float = Field(
        0.25, gt=0, le=10, description="max |notional| per instrument / trading capital"
    )
    max_gross_leverage: float = Field(
        2.0, gt=0, le=20, description="max sum of |notional| / trading capital"
    )
    max_net_leverage: float = Field(1.5, gt=0, le=20, description="max |sum of notional|")
    max_order_fraction: float = Field(
        0.30, gt=0, le=10, description="an order above this |notional| is rejected")
    max_strategy_position_fraction: float = Field(
        0.25, gt=0, le=10, description="max |notional| of one strategy in one instrument")
    asset_class_max_gross: dict[AssetClass, float] = Field(
        default_factory=dict, description="max gross |notional| per asset class (fraction)")
    price_collar: float = Field(
        0.10, gt=0, le=1, description="reject an order whose reference price is further than "
                                      "this from the last price")
    max_orders_per_day: int = Field(
        200, ge=1, description="order-rate limit: orders per day (a floor when "
                               "max_orders_per_instrument is set)")
    max_orders_per_instrument: float | None = Field(
        None, gt=0, le=100, description="order-rate limit that scales with the book: this many "
                                        "orders per instrument of the enabled strategies' "
                                        "universes per day; the limit is the larger of the two")
    daily_loss_limit: float = Field(
        0.05, gt=0, lt=1, description="a day's loss (fraction of equity) that sets REDUCING")
    drawdown: DrawdownConfig = DrawdownConfig()


class FixedStop(_Strict):
    """A level ``fraction`` away from the entry price (below it for a long stop-loss)."""

    kind: Literal["fixed"]
    fraction: float = Field(gt=0, le=10, description="distance from entry, as a fraction")


class TrailingStop(_Strict):
    """A stop-loss ``fraction`` away from the best close since entry (the highest for a
    long, the lowest for a short)."""

    kind: Literal["trailing"]
    fraction: float = Field(gt=0, lt=1, description="distance from the best close")


class VolatilityStop(_Strict):
    """A level ``multiple`` daily price volatilities (the instrument's daily return
    volatility × its price, both at the entry date) away from the entry price, or from the
    best close since entry (``anchor: best``, stop-loss only)."""

    kind: Literal["volatility"]
    multiple: float = Field(gt=0, le=100, description="daily price volatilities")
    anchor: Literal["entry", "best"] = "entry"


StopLossRule = Annotated[FixedStop | TrailingStop | VolatilityStop, Field(discriminator="kind")]
TakeProfitRule = Annotated[FixedStop | VolatilityStop, Field(discriminator="kind")]


class StrategyStops(_Strict):
    """Stop-loss and take-profit of one strategy (docs/risk.md, "Stops"). Once either
    triggers, the strategy's target in that instrument is flat until its signal changes
    sign."""

    stop_loss: StopLossRule | None = None
    take_profit: TakeProfitRule | None = None

    @model_validator(mode="after")
    def _take_profit_from_entry(self) -> StrategyStops:
        if isinstance(self.take_profit, VolatilityStop) and self.take_profit.anchor != "entry":
            raise ValueError("a volatility take-profit is measured from the entry price "
                             "(anchor: entry)")
        if isinstance(self.stop_loss, FixedStop) and self.stop_loss.fraction >= 1:
            raise ValueError("a fixed stop-loss fraction must be below 1")
        return self


class BrokerConfig(_Strict):
    """The one broker switch: ``name`` selects the broker of the daily run and of
    ``macroquant orders``; ``options`` are checked by that broker's typed model
    (``macroquant.brokers.registry.check_broker_config``; docs/execution.md lists every
    key)."""

    name: str = Field("paper", pattern="^(paper|alpaca|ibkr|ccxt)$",
                      description="paper (the built-in simulator) or a live broker adapter")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="the broker adapter's own settings, checked by its config model "
                    "(macroquant/brokers/<name>/config.py); never secrets: keys come from "
                    "`macroquant secrets`")
    commission_bps: float = Field(1.0, ge=0, le=500)
    slippage_bps: float = Field(2.0, ge=0, le=500)
    execution_price: Literal["next_open", "next_close"] = Field(
        "next_open", description="when an order sent after a session's close fills in the "
        "paper account and the book backtest: the next session's open or its close")

    @model_validator(mode="after")
    def _live_brokers_fill_at_the_open(self) -> BrokerConfig:
        if self.name != "paper" and self.execution_price != "next_open":
            raise ValueError(f"execution_price {self.execution_price} is simulated by the "
                             f"paper broker only; broker {self.name} sends market orders "
                             "that fill at the next open (set next_open)")
        return self


class StrategyBookConfig(_Strict):
    """What happens when the strategy folder changes (docs/strategies.md, "The folder is the
    book")."""

    retired_positions: Literal["wind_down", "hold"] = Field(
        "wind_down", description="positions of a strategy whose file is gone or disabled: "
                                 "wind_down (no target, so the orders stage closes them "
                                 "through the normal order path) or hold (its last targets "
                                 "are carried, like a paused strategy's, and reported)")


DEFAULT_STOPS = "default"


class TradingConfig(_Strict):
    """The trading configuration file (``include/macroquant.yaml``)."""

    trading_capital: float = Field(1_000_000.0, gt=0)
    base_currency: str = Field("USD", pattern="^[A-Z]{3}$")
    portfolio: PortfolioConfig = PortfolioConfig()
    risk: RiskConfig = RiskConfig()
    broker: BrokerConfig = BrokerConfig()
    strategy_book: StrategyBookConfig = StrategyBookConfig()
    stops: dict[str, StrategyStops] = Field(
        default_factory=dict, description="stop-loss / take-profit per strategy name; the "
                                          "entry 'default' applies to every strategy without "
                                          "an entry of its own")

    def stop_rules(self, strategy: str) -> StrategyStops | None:
        """The stops of ``strategy``: its own entry, else the ``default`` entry, else none.
        An entry of its own replaces the default as a whole (``{}`` turns stops off)."""
        return self.stops.get(strategy, self.stops.get(DEFAULT_STOPS))

    def strategies_with_stops(self, strategies: Iterable[str]) -> list[str]:
        """Those of ``strategies`` that have a stop-loss or take-profit, sorted."""
        return sorted(name for name in strategies if (rules := self.stop_rules(name))
                      is not None and (rules.stop_loss or rules.take_profit) is not None)

    def for_book(self, instruments: int) -> TradingConfig:
        """This configuration with its count limits resolved for a book of ``instruments``
        instruments: ``risk.max_orders_per_day`` becomes the larger of itself and
        ``ceil(max_orders_per_instrument × instruments)``."""
        per_instrument = self.risk.max_orders_per_instrument
        if per_instrument is None:
            return self
        scaled = max(self.risk.max_orders_per_day, math.ceil(per_instrument * instruments))
        return self.model_copy(update={"risk": self.risk.model_copy(
            update={"max_orders_per_day": scaled})})


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "<file>", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(str(path), "<file>", f"not UTF-8 text (line {line}, byte "
                          f"{exc.object[exc.start]:#04x}); save the file as UTF-8") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f"line {where.line + 1}, column {where.column + 1}: " if where else ""
        raise ConfigError(str(path), "<yaml>", f"not valid YAML: {at}{problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), "<root>", "must be a mapping of keys to values")
    return data


def config_error_from_validation(path: Path, exc: ValidationError) -> ConfigError:
    """Turn pydantic's first error into a :class:`ConfigError` naming file and field."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "<root>"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are errors)"
    return ConfigError(str(path), field, message)


def load_trading_config(path: Path) -> TradingConfig:
    """Load and validate the trading configuration file. ``broker.options`` are checked by
    the broker's own model in :func:`macroquant.brokers.registry.check_broker_config`
    (the core imports this module and must not import brokers)."""
    data = read_yaml_mapping(path)
    try:
        return TradingConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(path, exc) from exc
