"""Research tools: parameter grid search and walk-forward optimisation.

Every trial is a full :func:`macroquant.backtest.engine.run_backtest`. The number of
trials is always reported, and the best trial's Sharpe ratio is deflated by all of them
(:mod:`macroquant.backtest.deflated_sharpe`).

Walk-forward: the history is cut into folds of ``train`` sessions in-sample followed by
``test`` sessions out-of-sample, stepping by ``test``. In each fold the grid is searched on
the in-sample sessions only (best annualised Sharpe), and the chosen parameters are then
run on the out-of-sample sessions, starting flat with the equity the previous fold ended
with. Signals in a fold may use earlier history (the indicators need warm-up) but nothing
after the fold's last session. Out-of-sample results are reported separately and chained
into one equity curve.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import ValidationError

from macroquant.backtest.data import MarketPanels
from macroquant.backtest.deflated_sharpe import deflated_sharpe_of, per_period_sharpe
from macroquant.backtest.engine import (
    BacktestInputs,
    BacktestOptions,
    BacktestResult,
    run_backtest,
)
from macroquant.errors import ConfigError
from macroquant.reports.metrics import compute_metrics
from macroquant.strategies.base import Strategy


def parse_grid(items: Sequence[str]) -> dict[str, list[int | float | str]]:
    """``["fast=10,20", "slow=100"]`` → ``{"fast": [10, 20], "slow": [100]}`` (numbers
    parsed as int, else float, else kept as text)."""
    grid: dict[str, list[int | float | str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ConfigError("--grid", item, "expected NAME=V1,V2,...")
        grid[name.strip()] = [_number(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@dataclass(frozen=True)
class Trial:
    """One parameter set: its parameters, and its result (None when the set is invalid)."""

    parameters: dict[str, object]
    result: BacktestResult | None
    error: str = ""

    @property
    def sharpe(self) -> float:
        return self.result.metrics["sharpe"] if self.result is not None else math.nan


@dataclass(frozen=True)
class GridSearch:
    trials: list[Trial]

    @property
    def valid(self) -> list[Trial]:
        return [t for t in self.trials if t.result is not None]

    @property
    def n_trials(self) -> int:
        """Parameter sets actually backtested (invalid sets are not trials)."""
        return len(self.valid)

    @property
    def best(self) -> Trial:
        ranked = [t for t in self.valid if math.isfinite(t.sharpe)] or self.valid
        return max(ranked, key=lambda t: t.sharpe if math.isfinite(t.sharpe) else -math.inf)

    def deflated_sharpe(self) -> float:
        """DSR of the best trial, deflated by every trial."""
        sharpes = np.array([per_period_sharpe(_returns(t.result)) for t in self.valid])
        return deflated_sharpe_of(_returns(self.best.result), sharpes)


def _returns(result: BacktestResult | None) -> pd.Series:
    assert result is not None
    return result.equity.pct_change().iloc[1:]


def parameter_sets(base: Mapping[str, object],
                   grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Every combination of the grid's values over the base parameters (grid order)."""
    names = list(grid)
    return [{**base, **dict(zip(names, values, strict=True))}
            for values in itertools.product(*(grid[n] for n in names))]


def grid_search(strategy_class: type[Strategy], base: Mapping[str, object],
                grid: Mapping[str, Sequence[object]], panels: MarketPanels,
                options: BacktestOptions, inputs: BacktestInputs | None = None) -> GridSearch:
    """Backtest every parameter set; invalid sets (e.g. fast >= slow) are recorded with
    their error and not run. ``inputs``: the point-in-time macro series and asset classes
    (:func:`macroquant.backtest.store.read_backtest_inputs`) for rules that read them."""
    trials = []
    for parameters in parameter_sets(base, grid):
        try:
            model = strategy_class.parameters_model.model_validate(parameters)
        except ValidationError as exc:
            trials.append(Trial(parameters, None, exc.errors()[0]["msg"]))
            continue
        trials.append(Trial(parameters, run_backtest(strategy_class(model), panels, options,
                                                     inputs)))
    if not any(t.result is not None for t in trials):
        raise ConfigError("--grid", "<grid>", "no valid parameter set: "
                          + "; ".join(sorted({t.error for t in trials})))
    return GridSearch(trials)


@dataclass(frozen=True)
class Fold:
    in_sample: tuple[pd.Timestamp, pd.Timestamp]
    out_of_sample: tuple[pd.Timestamp, pd.Timestamp]
    search: GridSearch
    out_result: BacktestResult


@dataclass(frozen=True)
class WalkForward:
    folds: list[Fold]
    equity: pd.Series          # out-of-sample equity, folds chained

    @property
    def n_trials(self) -> int:
        return sum(f.search.n_trials for f in self.folds)

    def out_of_sample_metrics(self) -> dict[str, float]:
        return compute_metrics(self.equity.pct_change().iloc[1:])


def fold_bounds(dates: pd.DatetimeIndex, train: int, test: int) -> list[tuple[int, int, int]]:
    """``(in-sample start, out-of-sample start, out-of-sample end)`` row positions (end
    exclusive) of each fold; the last fold may be shorter than ``test``."""
    if train < 2 or test < 2:
        raise ConfigError("walk-forward", "train/test", "need at least 2 sessions each")
    bounds, start = [], 0
    while start + train + 1 < len(dates):
        split = start + train
        bounds.append((start, split, min(split + test, len(dates))))
        start += test
    if not bounds:
        raise ConfigError("walk-forward", "train", f"{train} in-sample sessions leave no "
                          f"out-of-sample data in {len(dates)} sessions")
    return bounds


def walk_forward(strategy_class: type[Strategy], base: Mapping[str, object],
                 grid: Mapping[str, Sequence[object]], panels: MarketPanels,
                 options: BacktestOptions, *, train: int, test: int,
                 inputs: BacktestInputs | None = None) -> WalkForward:
    """Rolling in-sample grid search, out-of-sample run of each fold's best parameters;
    ``inputs`` as for :func:`grid_search` (each value as public on each date)."""
    dates = panels.dates
    if options.start is not None:
        dates = dates[dates >= pd.Timestamp(options.start)]
    if options.end is not None:
        dates = dates[dates <= pd.Timestamp(options.end)]
    folds, pieces, capital = [], [], options.capital
    for first, split, stop in fold_bounds(dates, train, test):
        in_sample = options.model_copy(update={"start": dates[first].date(),
                                               "end": dates[split - 1].date()})
        search = grid_search(strategy_class, base, grid, panels, in_sample, inputs)
        model = strategy_class.parameters_model.model_validate(search.best.parameters)
        out_options = options.model_copy(update={"start": dates[split].date(),
                                                 "end": dates[stop - 1].date(),
                                                 "capital": capital})
        out = run_backtest(strategy_class(model), panels, out_options, inputs)
        folds.append(Fold((dates[first], dates[split - 1]), (dates[split], dates[stop - 1]),
                          search, out))
        pieces.append(out.equity)
        capital = out.final_equity
    return WalkForward(folds, pd.concat(pieces))
