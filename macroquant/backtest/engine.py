"""Run one strategy over history: features → signal → target weights → limits → fills.

The signal, sizing and limit steps are the daily pipeline's pure functions
(``Strategy.generate_signals``, :mod:`macroquant.portfolio.sizing`,
:mod:`macroquant.risk.limits`),
vectorised over the whole date × instrument panel; the fills, cash and positions come from
the Numba loop in :mod:`macroquant.backtest.simulate` with the shared cost model.

A strategy receives the same :class:`~macroquant.strategies.base.StrategyInputs` as in the
signals stage: feature panels, and (:class:`BacktestInputs`) the point-in-time macro panel
(each series as public on each date) and the instruments' asset classes, which
:func:`macroquant.backtest.store.read_backtest_inputs` reads from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from macroquant.backtest.costs import BacktestCosts
from macroquant.backtest.data import MarketPanels
from macroquant.backtest.features import compute_backtest_features
from macroquant.backtest.gated import gate_instruments, simulate_gated
from macroquant.backtest.simulate import simulate
from macroquant.backtest.targets import (
    direction_weights,
    signal_strength,
    volatility_target_weights,
)
from macroquant.config.settings import TradingConfig
from macroquant.errors import MissingInputError
from macroquant.features.catalog import feature_name
from macroquant.reports.metrics import compute_metrics
from macroquant.risk.order_gate import RiskLimits
from macroquant.strategies.base import Strategy, StrategyInputs
from macroquant.strategies.loader import StrategyConfig

TRADE_COLUMNS = ["signal_date", "trade_date", "symbol", "side", "quantity", "reference_price",
                 "price", "price_field", "commission", "slippage_cost"]


class BacktestOptions(BaseModel):
    """What a run needs besides the strategy and the prices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    capital: float = Field(1_000_000.0, gt=0)
    start: date | None = None
    end: date | None = None
    price: str = Field("next_open", pattern="^(next_open|next_close)$")
    costs: BacktestCosts = BacktestCosts()
    long_only: bool = False
    sizing: str = Field("volatility_target",
                        pattern="^(volatility_target|full_equity|equal_weight)$")
    weight: float = Field(1.0, gt=0, le=1)
    annual_volatility_target: float = Field(0.10, gt=0)
    volatility_span: int = Field(36, ge=5)
    max_position_fraction: float | None = Field(None, gt=0)
    max_gross_leverage: float | None = Field(None, gt=0)
    risk_limits: RiskLimits | None = None   # the pre-trade order gate's; None: no gate


def options_for(config: StrategyConfig, trading: TradingConfig, *, capital: float | None = None,
                start: date | None = None, end: date | None = None) -> BacktestOptions:
    """Options from a strategy file and the trading configuration: the file's execution
    settings win, the broker's commission/slippage fill in what it leaves out, and the
    volatility-target sizing takes the portfolio section and the risk limits."""
    execution = config.execution
    costs = BacktestCosts(
        commission_bps=(trading.broker.commission_bps if execution.commission_bps is None
                        else execution.commission_bps),
        slippage_bps=(trading.broker.slippage_bps if execution.slippage_bps is None
                      else execution.slippage_bps),
        commission_per_share=execution.commission_per_share or 0.0,
        spread_bps=execution.spread_bps or 0.0,
        max_volume_participation=execution.max_volume_participation)
    return BacktestOptions(
        capital=trading.trading_capital if capital is None else capital,
        start=start, end=end, price=execution.price, costs=costs,
        long_only=config.long_only, sizing=config.sizing.method, weight=config.weight,
        annual_volatility_target=trading.portfolio.annual_volatility_target,
        volatility_span=trading.portfolio.volatility_span,
        max_position_fraction=trading.risk.max_position_fraction,
        max_gross_leverage=trading.risk.max_gross_leverage,
        risk_limits=RiskLimits.from_config(trading))


@dataclass(frozen=True)
class BacktestResult:
    """Everything a run produced, indexed by date (rows from ``start`` to ``end``)."""

    equity: pd.Series
    cash: pd.Series
    positions: pd.DataFrame      # shares at each close
    marks: pd.DataFrame          # the close each position is valued at (last seen)
    signals: pd.DataFrame        # strength per date and instrument (NaN: no signal yet)
    weights: pd.DataFrame        # target weights decided at each close
    orders: pd.DataFrame         # signal_date, symbol, target_weight (each change)
    trades: pd.DataFrame         # TRADE_COLUMNS
    metrics: dict[str, float]
    risk_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    gate_events: pd.DataFrame = field(default_factory=pd.DataFrame)  # order gate outcomes

    @property
    def final_equity(self) -> float:
        return float(self.equity.iloc[-1])


@dataclass(frozen=True)
class BacktestInputs:
    """What a strategy reads besides prices: ``macro`` (dates × series name, the value
    public on each date; see :func:`macroquant.backtest.store.read_backtest_inputs`) and
    ``asset_classes`` (symbol → asset class)."""

    macro: pd.DataFrame = field(default_factory=pd.DataFrame)
    asset_classes: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))


def strategy_signals(strategy: Strategy, panels: MarketPanels,
                     inputs: BacktestInputs | None = None) -> pd.DataFrame:
    """The strategy's strength over the whole panel (features from all history, macro
    series as known on each date). A macro series the strategy needs and ``inputs`` lacks
    is a :class:`MissingInputError`."""
    inputs = BacktestInputs() if inputs is None else inputs
    missing = sorted(strategy.required_macro() - set(inputs.macro.columns))
    if missing:
        raise MissingInputError(
            f"the strategy reads the macro series {', '.join(missing)}, which this backtest "
            "was not given: backtest it on the database's prices (no --prices), where they "
            "are read point-in-time")
    features = compute_backtest_features(strategy.required_features(), panels.raw_close,
                                         panels.close)
    macro = inputs.macro.reindex(panels.dates) if len(inputs.macro.columns) else inputs.macro
    out = strategy.generate_signals(StrategyInputs(features=features, macro=macro,
                                                   asset_classes=inputs.asset_classes))
    return out.strength.reindex(index=panels.dates, columns=panels.close.columns)


def target_weights(strength: pd.DataFrame, panels: MarketPanels,
                   options: BacktestOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Target weights and risk events for the options' sizing."""
    strength = signal_strength(strength, long_only=options.long_only)
    if options.sizing != "volatility_target":
        return direction_weights(strength, options.sizing), pd.DataFrame()
    name = feature_name("return_volatility", options.volatility_span)
    volatility = compute_backtest_features({name}, panels.raw_close, panels.close)[name]
    return volatility_target_weights(
        strength, volatility, weight=options.weight,
        annual_volatility_target=options.annual_volatility_target,
        max_position_fraction=options.max_position_fraction,
        max_gross_leverage=options.max_gross_leverage)


def _window(panels: MarketPanels, options: BacktestOptions) -> pd.DatetimeIndex:
    dates = panels.dates
    keep = np.ones(len(dates), dtype=bool)
    if options.start is not None:
        keep &= dates >= pd.Timestamp(options.start)
    if options.end is not None:
        keep &= dates <= pd.Timestamp(options.end)
    if not keep.any():
        raise MissingInputError(f"no price data between {options.start} and {options.end} "
                                f"(data covers {dates.min().date()} to {dates.max().date()})")
    return dates[keep]


def run_backtest(strategy: Strategy, panels: MarketPanels, options: BacktestOptions,
                 inputs: BacktestInputs | None = None) -> BacktestResult:
    """Backtest ``strategy`` on ``panels`` (signals use all data up to ``options.end``;
    trading starts flat at ``options.start``); ``inputs``: macro series and asset
    classes for the rules that read them."""
    if options.end is not None:
        panels = panels.until(pd.Timestamp(options.end))
    window = _window(panels, options)
    strength = strategy_signals(strategy, panels, inputs)
    weights, events = target_weights(strength, panels, options)
    strength, weights = strength.loc[window], weights.loc[window]
    close = panels.close.loc[window]
    use_open = options.price == "next_open"
    reference = panels.open.loc[window].fillna(close) if use_open else close
    volume = panels.volume.loc[window]
    costs = options.costs
    cap = (costs.participation_cap(volume.to_numpy())
           if costs.max_volume_participation is not None else None)
    fill = dict(capital=options.capital,
                buy_factor=float(costs.fill_price(np.array(1.0), 1.0)),
                sell_factor=float(costs.fill_price(np.array(1.0), -1.0)),
                commission_rate=costs.commission_rate,
                commission_per_share=costs.commission_per_share, fill_cap=cap)
    gate_events = pd.DataFrame()
    if options.risk_limits is None:
        sim = simulate(weights.to_numpy(), reference.to_numpy(), close.to_numpy(), **fill)
    else:
        classes = inputs.asset_classes if inputs is not None else None
        sim, gate_events = simulate_gated(
            weights.to_numpy(), reference.to_numpy(), close.to_numpy(), symbols=close.columns,
            dates=window, instruments=gate_instruments(close.columns, classes),
            limits=options.risk_limits, **fill)
    equity = pd.Series(sim.equity[:, 0], index=window, name="equity")
    positions = pd.DataFrame(sim.positions, index=window, columns=close.columns)
    trades = _trade_frame(sim.trades, window, close.columns, costs, use_open,
                          panels.open.loc[window].isna().to_numpy())
    marks = close.ffill()
    exposure = (positions * marks).div(equity, axis=0)
    return BacktestResult(
        equity=equity, cash=pd.Series(sim.cash[:, 0], index=window, name="cash"),
        positions=positions, marks=marks, signals=strength, weights=weights,
        orders=_order_frame(weights), trades=trades,
        metrics=compute_metrics(equity.pct_change().iloc[1:], positions=exposure),
        risk_events=events, gate_events=gate_events)


def _order_frame(weights: pd.DataFrame) -> pd.DataFrame:
    """One row per change of a target weight: the order sent after that close."""
    values = weights.to_numpy()
    previous = np.vstack([np.zeros((1, values.shape[1])), values[:-1]])
    rows, cols = np.nonzero(values != previous)
    return pd.DataFrame({"signal_date": weights.index[rows],
                         "symbol": weights.columns[cols].astype(str),
                         "target_weight": values[rows, cols]})


def _trade_frame(records: dict[str, np.ndarray], dates: pd.DatetimeIndex,
                 symbols: pd.Index, costs: BacktestCosts, use_open: bool,
                 open_missing: np.ndarray) -> pd.DataFrame:
    rows, cols = records["row"], records["column"]
    quantity = np.abs(records["quantity"])
    trades = pd.DataFrame({
        "trade_date": dates[rows], "symbol": symbols[cols].astype(str),
        "side": np.where(records["quantity"] > 0, "buy", "sell"), "quantity": quantity,
        "reference_price": records["reference_price"], "price": records["price"],
        "price_field": np.where(use_open & ~open_missing[rows, cols], "open", "close"),
        "commission": records["commission"],
        "slippage_cost": np.abs(records["price"] - records["reference_price"]) * quantity,
    })
    # The order behind a fill was decided at the last close before the fill.
    trades.insert(0, "signal_date", dates[np.maximum(rows - 1, 0)])
    return trades[TRADE_COLUMNS]
