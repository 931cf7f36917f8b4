"""Portfolio construction of a book over a window (pure): the signals of every strategy →
per-strategy targets → one netted, buffered, lot-rounded book.

This is the rule both drivers run: the daily portfolio stage
(:mod:`macroquant.pipeline.portfolio`, which reads :class:`BookInputs` from PostgreSQL and
writes the result) and the book backtest (:mod:`macroquant.backtest.book`, which builds
them in memory). The sizing is :func:`macroquant.portfolio.construction.construct`; then, in
this order: strategies that did not run on a date — paused, or raised in the signals
stage (:func:`silent_strategies`) — hold their last targets (:func:`hold_paused`),
stops zero the targets they hold flat (:func:`stop_book_targets`), the strategies' targets are
netted per instrument and buffered and rounded to whole lots
(:func:`~macroquant.portfolio.construction.buffer_targets`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from macroquant.config.settings import TradingConfig
from macroquant.portfolio.construction import ConstructionInputs, buffer_targets, construct
from macroquant.risk.stops import stop_targets

TARGET_COLUMNS = ["as_of", "strategy_id", "instrument_id", "signal_strength",
                  "instrument_volatility", "price", "target_notional", "target_quantity"]
PORTFOLIO_COLUMNS = ["as_of", "instrument_id", "price", "target_quantity", "target_notional"]
DIAGNOSTIC_COLUMNS = ["as_of", "diversification_multiplier", "predicted_volatility",
                      "volatility_scale", "strategy_weights"]
STOP_EVENT_COLUMNS = ["as_of", "check_name", "subject", "outcome", "limit_value",
                      "observed_value", "details", "run_id", "reason"]
STOP_CHECKS = ("stop_loss", "take_profit")
STOP_HISTORY_COLUMNS = ["as_of", "strategy", "symbol", "signal_strength", "price",
                        "instrument_volatility"]


def _empty_series() -> pd.Series:
    return pd.Series(dtype=float)


@dataclass(frozen=True)
class BookInputs:
    """What sizing a window needs.

    ``strategies``: ``strategy_id, name, config`` (the strategy file as a dict: ``universe``,
    ``weight``) of the enabled strategies, ordered by name; ``instruments``:
    ``instrument_id, symbol, lot_size``; ``signals``: long ``as_of, strategy, symbol,
    strength`` for the window and any history before it; ``prices`` / ``volatility``: the
    ``price`` and ``return_volatility:<span>`` features, dates × symbols; ``closes``:
    back-adjusted closes, dates × symbols, from ``correlation_lookback`` sessions before the
    window; ``previous``: the last net target quantity per symbol before the window (the
    buffer's start); ``stop_history``: earlier per-strategy targets of strategies with stops
    (:data:`STOP_HISTORY_COLUMNS`); ``paused``: strategies whose last targets are held;
    ``held``: the target rows of their latest session before the window, for the paused
    strategies and for those with no signal on some session of the window (they raised).
    """

    strategies: pd.DataFrame
    instruments: pd.DataFrame
    signals: pd.DataFrame
    prices: pd.DataFrame
    volatility: pd.DataFrame
    closes: pd.DataFrame
    previous: pd.Series = field(default_factory=_empty_series)
    stop_history: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=STOP_HISTORY_COLUMNS))
    paused: list[str] = field(default_factory=list)
    held: pd.DataFrame | None = None


def long_to_wide(frame: pd.DataFrame, index: str, value: str) -> pd.DataFrame:
    """``frame`` (long: ``index``, ``symbol``, ``value``) as dates × symbols floats."""
    if frame.empty:
        return pd.DataFrame(dtype=float)
    frame = frame.assign(**{index: pd.to_datetime(frame[index])})
    return frame.pivot(index=index, columns="symbol", values=value).astype(float).sort_index()


def size_book(data: BookInputs, trading: TradingConfig, sessions: list[date]
              ) -> dict[str, pd.DataFrame]:
    """The window's per-strategy targets, net book and diagnostics from the inputs:
    ``targets`` (per strategy, unrounded), ``portfolio_targets`` (net, buffered, whole lots),
    ``diagnostics`` and ``stop_events`` (see :data:`TARGET_COLUMNS`, ...)."""
    strategies, instruments = data.strategies, data.instruments
    symbol_ids = dict(zip(instruments["symbol"], instruments["instrument_id"], strict=True))
    names = strategies["name"].tolist()
    universes = {row.name: [s for s in row.config["universe"] if s in symbol_ids]
                 for row in strategies.itertuples()}
    universes = {n: u for n, u in universes.items() if u}
    names = [n for n in names if n in universes]
    signals = data.signals
    strengths = {n: long_to_wide(signals[signals["strategy"] == n], "as_of", "strength")
                 for n in names}
    window = [pd.Timestamp(d) for d in sessions]
    inputs = ConstructionInputs(
        strengths=strengths, volatility=data.volatility,
        returns=data.closes.pct_change(fill_method=None), universes=universes,
        weights=pd.Series({row.name: float(row.config["weight"])
                           for row in strategies.itertuples() if row.name in universes}))
    notional, full, diagnostics = construct(inputs, window, capital=trading.trading_capital,
                                            config=trading.portfolio) if names else ({}, None,
                                                                                     None)
    prices = data.prices.reindex(window)
    vol = data.volatility.reindex(window)
    ids = strategies.set_index("name")["strategy_id"]
    rows = []
    for name in names:
        frame = notional[name].reindex(columns=universes[name])
        long = pd.DataFrame({
            "target_notional": frame.stack(),
            "signal_strength": strengths[name].reindex(index=window,
                                                       columns=universes[name]).stack(),
            "instrument_volatility": vol.reindex(columns=universes[name]).stack(),
            "price": prices.reindex(columns=universes[name]).stack()}).dropna()
        long["target_quantity"] = long["target_notional"] / long["price"]
        long = long.rename_axis(["as_of", "symbol"]).reset_index()
        rows.append(long.assign(strategy_id=int(ids[name])))
    targets = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=[*TARGET_COLUMNS, "symbol"])
    holding = set(data.paused) | silent_strategies(signals, names, sessions)
    targets = hold_paused(targets, data.held, {
        n: (int(ids[n]), universes[n]) for n in sorted(holding) if n in universes},
        window, prices, vol)
    targets["instrument_id"] = targets["symbol"].map(symbol_ids)
    names_by_id = {int(i): n for n, i in ids.items()}
    targets, stop_events = stop_book_targets(targets, data.stop_history, names_by_id, trading,
                                        window[0] if window else None)

    universe = sorted({s for n in names for s in universes[n]})
    quantity = targets.pivot_table(index="as_of", columns="symbol", values="target_quantity",
                                   aggfunc="sum").reindex(index=window, columns=universe)
    full_positions = (full.reindex(index=window, columns=universe)
                      / prices.reindex(columns=universe)
                      if names else quantity)
    lots = instruments.set_index("symbol")["lot_size"].astype(float)
    book = buffer_targets(quantity.fillna(0.0), full_positions, lots, data.previous,
                          trading.portfolio.buffer_fraction)
    tradable = prices.reindex(columns=universe).notna()
    book_rows = pd.DataFrame({"target_quantity": book.where(tradable).stack(),
                              "price": prices.reindex(columns=universe).stack()}).dropna()
    book_rows = book_rows.rename_axis(["as_of", "symbol"]).reset_index()
    book_rows["instrument_id"] = book_rows["symbol"].map(symbol_ids)
    book_rows["target_notional"] = book_rows["target_quantity"] * book_rows["price"]

    diag = diagnostics if diagnostics is not None else pd.DataFrame(columns=["as_of"])
    weights = [c for c in diag.columns if c.startswith("weight:")]
    diag = diag.assign(strategy_weights=[
        json.dumps({c.removeprefix("weight:"): round(float(r[c]), 12) for c in weights},
                   sort_keys=True) for _, r in diag.iterrows()])
    return {"targets": targets, "portfolio_targets": book_rows, "diagnostics": diag,
            "stop_events": stop_events}


def silent_strategies(signals: pd.DataFrame, names: list[str], sessions: list[date]
                      ) -> set[str]:
    """The strategies of ``names`` with no signal row on at least one of ``sessions``: they
    did not run that day (paused, or they raised in the signals stage). Their last targets
    are held (:func:`hold_paused`) instead of being read as "no position wanted": a strategy
    that breaks must not flatten its book by accident."""
    if not sessions:
        return set()
    wanted = pd.DatetimeIndex(pd.to_datetime(sessions))
    days = pd.to_datetime(signals["as_of"])
    seen = days[days.isin(wanted)].groupby(signals.loc[days.index, "strategy"]).nunique()
    return {n for n in names if seen.get(n, 0) < len(wanted)}


HELD_COLUMNS = ["signal_strength", "price", "instrument_volatility", "target_quantity"]


def hold_paused(targets: pd.DataFrame, held: pd.DataFrame | None,
                paused: dict[str, tuple[int, list[str]]], window: list[pd.Timestamp],
                prices: pd.DataFrame, volatility: pd.DataFrame) -> pd.DataFrame:
    """``targets`` plus the held rows of the paused strategies.

    ``paused``: name -> (strategy id, universe); ``held``: each paused strategy's
    ``targets`` rows of its latest session before the window (columns ``strategy, symbol``
    and :data:`HELD_COLUMNS`). On every window date on which a paused strategy has no target
    row of its own (the signals stage writes no signal for it), its rows of its previous
    session are carried forward: same ``target_quantity`` and ``signal_strength`` (only
    symbols still in its universe), that date's price and volatility (the carried ones
    where the date has none), ``target_notional = quantity × price``. Its share of the net
    book therefore stays where it was: it trades nothing of its own while paused.
    """
    if not paused or not window:
        return targets
    added = []
    for name, (strategy_id, universe) in paused.items():
        last = pd.DataFrame(columns=HELD_COLUMNS, dtype=float)
        if held is not None and not held.empty:
            last = held.loc[held["strategy"] == name].set_index("symbol")[HELD_COLUMNS]
            last = last.loc[last.index.isin(universe)].astype(float)
        mine = targets.loc[targets["strategy_id"] == strategy_id]
        for day in window:
            own = mine.loc[mine["as_of"] == day]
            if not own.empty:
                last = own.set_index("symbol")[HELD_COLUMNS].astype(float)
                continue
            if last.empty:
                continue
            carried = last.copy()
            for column, panel in (("price", prices), ("instrument_volatility", volatility)):
                today = panel.loc[day] if day in panel.index else pd.Series(dtype=float)
                carried[column] = today.reindex(carried.index).fillna(carried[column])
            carried["target_notional"] = carried["target_quantity"] * carried["price"]
            added.append(carried.rename_axis("symbol").reset_index()
                         .assign(as_of=day, strategy_id=strategy_id))
            last = carried[HELD_COLUMNS]
    if not added:
        return targets
    return pd.concat([targets, *added], ignore_index=True)


def stop_book_targets(targets: pd.DataFrame, history: pd.DataFrame, names_by_id: dict[int, str],
                 trading: TradingConfig, first_date: pd.Timestamp | None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zero the window's targets that a stop holds flat; one event row per trigger."""
    columns = ["as_of", "symbol", "signal_strength", "price", "instrument_volatility"]
    events = []
    targets = targets.copy()
    for strategy_id, name in names_by_id.items():
        rules = trading.stop_rules(name)
        mine = targets["strategy_id"] == strategy_id
        if rules is None or first_date is None or not mine.any():
            continue
        earlier = history.loc[history["strategy"] == name, columns]
        path = pd.concat([earlier.assign(as_of=pd.to_datetime(earlier["as_of"])),
                          targets.loc[mine, columns]], ignore_index=True)
        flat, triggers = stop_targets(path, rules, first_date)
        keys = pd.MultiIndex.from_frame(targets.loc[mine, ["as_of", "symbol"]])
        zero = flat.reindex(keys, fill_value=False).to_numpy(bool)
        index = targets.index[mine][zero]
        targets.loc[index, ["target_quantity", "target_notional"]] = 0.0
        events.extend(_stop_event(name, row) for row in triggers.itertuples())
    return targets, pd.DataFrame(events, columns=STOP_EVENT_COLUMNS)


def _stop_event(strategy: str, x: Any) -> dict[str, Any]:
    """A ``risk_events`` row for one trigger (``x``: a row of ``stop_targets``' triggers)."""
    side = "long" if x.side > 0 else "short"
    what = "stop-loss" if x.check_name == "stop_loss" else "take-profit"
    reason = (f"{strategy} {side} {x.symbol} since {x.entry_date.date()} at "
              f"{x.entry_price:.6g} (best close {x.best_price:.6g}): close {x.price:.6g} "
              f"reached the {x.kind} {what} level {x.level:.6g}; the target is flat until "
              f"the {strategy} signal changes sign")
    details = {"strategy": strategy, "symbol": x.symbol, "kind": x.kind, "side": side,
               "entry_date": str(x.entry_date.date()), "entry_price": x.entry_price,
               "best_price": x.best_price}
    return {"as_of": x.as_of.date(), "check_name": x.check_name,
            "subject": f"{strategy}:{x.symbol}", "outcome": "block", "limit_value": x.level,
            "observed_value": x.price, "details": json.dumps(details, sort_keys=True),
            "run_id": None, "reason": reason}


