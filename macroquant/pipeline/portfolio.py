"""Stage 5 — portfolio: size each strategy's signals and combine them into one book.

Input: ``signals`` (the window and up to ``correlation_lookback`` sessions before it),
``strategies`` (weights, universes), ``features`` (``price`` and
``return_volatility:<span>``), ``market_data`` (closes for return correlations),
``instruments`` (lot sizes), the last ``portfolio_targets`` before the window (the
buffer's starting point), the earlier ``targets`` of strategies with stops (their open
position episodes), the trading configuration's ``portfolio`` and ``stops`` sections.
Output: ``targets`` (per strategy and instrument, unrounded), ``portfolio_targets`` (net
quantity per instrument, buffered and rounded to whole lots; ``approved_quantity`` left
empty for the risk stage) and ``portfolio_diagnostics`` (diversification multiplier,
ex-ante volatility, volatility scale, strategy weights per date) and ``risk_events`` rows
``stop_loss`` / ``take_profit`` (outcome ``block``, subject ``<strategy>:<symbol>``) for
every stop that fired: such a strategy target is zero (in ``targets`` too) from the trigger
until the strategy's signal changes sign (:mod:`macroquant.risk.stops`), so stopped targets
are flat before netting. Every instrument of an
enabled universe that has a price gets a row, so a signal that disappears becomes a
target of zero. The sizing itself is :func:`macroquant.portfolio.construction.construct`.
A **paused** strategy (``strategy_controls``) gets no signal rows while paused; on those
dates its targets of its latest earlier session are carried forward (same quantities,
:func:`hold_paused`), so its positions are held, not flattened.
Idempotency key: ``as_of`` in the window (the three tables and the window's stop events
replaced). Stops depend on earlier ``targets``: rerun later windows after an earlier one.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from macroquant.auth.strategy_controls import paused_strategies
from macroquant.config.settings import DEFAULT_STOPS, TradingConfig
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError
from macroquant.features.catalog import feature_name
from macroquant.pipeline.context import StageContext
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


def _wide(frame: pd.DataFrame, index: str, value: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(dtype=float)
    frame = frame.assign(**{index: pd.to_datetime(frame[index])})
    return frame.pivot(index=index, columns="symbol", values=value).astype(float).sort_index()


def _read_inputs(conn: psycopg.Connection, context: StageContext) -> dict:
    config = context.trading.portfolio
    volatility = feature_name("return_volatility", config.volatility_span)
    # calendar days covering the lookback of sessions, with room for holidays
    history_start = context.start - timedelta(days=int(config.correlation_lookback * 1.6) + 10)
    strategies = read_frame(conn, """SELECT strategy_id, name, config FROM strategies
                                     WHERE enabled ORDER BY name""")
    instruments = read_frame(conn, "SELECT instrument_id, symbol, lot_size FROM instruments")
    signals = read_frame(conn, """SELECT s.as_of, st.name AS strategy, i.symbol, s.strength
                                  FROM signals s JOIN strategies st USING (strategy_id)
                                  JOIN instruments i USING (instrument_id)
                                  WHERE st.enabled AND s.as_of BETWEEN %s AND %s""",
                         (history_start, context.end))
    features = read_frame(conn, """SELECT f.as_of, i.symbol, f.feature, f.value
                                   FROM features f JOIN instruments i USING (instrument_id)
                                   WHERE f.as_of BETWEEN %s AND %s AND f.feature IN ('price', %s)""",
                          (history_start, context.end, volatility))
    closes = read_frame(conn, """SELECT m.trade_date, i.symbol, coalesce(m.adj_close, m.close)
                                        AS close
                                 FROM market_data m JOIN instruments i USING (instrument_id)
                                 WHERE m.trade_date BETWEEN %s AND %s""",
                        (history_start, context.end))
    previous = read_frame(conn, """SELECT i.symbol, t.target_quantity FROM portfolio_targets t
                                   JOIN instruments i USING (instrument_id)
                                   WHERE t.as_of = (SELECT max(as_of) FROM portfolio_targets
                                                    WHERE as_of < %s)""", (context.start,))
    all_names = {row[0] for row in conn.execute("SELECT name FROM strategies")}
    unknown = sorted(set(context.trading.stops) - all_names - {DEFAULT_STOPS})
    if unknown:
        raise ConfigError(str(context.settings.config_path), f"stops.{unknown[0]}",
                          f"no strategy is named {unknown[0]!r} (known: "
                          f"{', '.join(sorted(all_names))})")
    stop_history = read_frame(conn, """SELECT t.as_of, st.name AS strategy, i.symbol,
                                              t.signal_strength, t.price,
                                              t.instrument_volatility
                                       FROM targets t JOIN strategies st USING (strategy_id)
                                       JOIN instruments i USING (instrument_id)
                                       WHERE t.as_of < %s AND st.name = ANY(%s)""",
                              (context.start, context.trading.strategies_with_stops(all_names)))
    paused = sorted(paused_strategies(conn) & set(strategies["name"]))
    held = read_frame(conn, """SELECT st.name AS strategy, i.symbol, t.signal_strength,
                                      t.price, t.instrument_volatility, t.target_quantity
                               FROM targets t JOIN strategies st USING (strategy_id)
                               JOIN instruments i USING (instrument_id)
                               WHERE st.name = ANY(%s)
                                 AND t.as_of = (SELECT max(p.as_of) FROM targets p
                                                WHERE p.strategy_id = t.strategy_id
                                                  AND p.as_of < %s)""",
                      (paused, context.start))
    return {"strategies": strategies, "instruments": instruments, "signals": signals,
            "stop_history": stop_history, "paused": paused, "held": held,
            "prices": _wide(features[features["feature"] == "price"], "as_of", "value"),
            "volatility": _wide(features[features["feature"] == volatility], "as_of", "value"),
            "closes": _wide(closes, "trade_date", "close"),
            "previous": previous.set_index("symbol")["target_quantity"].astype(float)}


def size_window(data: dict, context: StageContext) -> dict[str, pd.DataFrame]:
    """The window's per-strategy targets, net book and diagnostics from the inputs."""
    trading = context.trading
    strategies, instruments = data["strategies"], data["instruments"]
    symbol_ids = dict(zip(instruments["symbol"], instruments["instrument_id"], strict=True))
    names = strategies["name"].tolist()
    universes = {row.name: [s for s in row.config["universe"] if s in symbol_ids]
                 for row in strategies.itertuples()}
    universes = {n: u for n, u in universes.items() if u}
    names = [n for n in names if n in universes]
    signals = data["signals"]
    strengths = {n: _wide(signals[signals["strategy"] == n], "as_of", "strength")
                 for n in names}
    window = [pd.Timestamp(d) for d in context.sessions]
    inputs = ConstructionInputs(
        strengths=strengths, volatility=data["volatility"],
        returns=data["closes"].pct_change(fill_method=None), universes=universes,
        weights=pd.Series({row.name: float(row.config["weight"])
                           for row in strategies.itertuples() if row.name in universes}))
    notional, full, diagnostics = construct(inputs, window, capital=trading.trading_capital,
                                            config=trading.portfolio) if names else ({}, None,
                                                                                     None)
    prices = data["prices"].reindex(window)
    vol = data["volatility"].reindex(window)
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
    targets = hold_paused(targets, data.get("held"), {
        n: (int(ids[n]), universes[n]) for n in data.get("paused", []) if n in universes},
        window, prices, vol)
    targets["instrument_id"] = targets["symbol"].map(symbol_ids)
    names_by_id = {int(i): n for n, i in ids.items()}
    targets, stop_events = _apply_stops(targets, data["stop_history"], names_by_id, trading,
                                        window[0] if window else None)

    universe = sorted({s for n in names for s in universes[n]})
    quantity = targets.pivot_table(index="as_of", columns="symbol", values="target_quantity",
                                   aggfunc="sum").reindex(index=window, columns=universe)
    full_positions = (full.reindex(index=window, columns=universe) / prices[universe]
                      if names else quantity)
    lots = instruments.set_index("symbol")["lot_size"].astype(float)
    book = buffer_targets(quantity.fillna(0.0), full_positions, lots, data["previous"],
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


def _apply_stops(targets: pd.DataFrame, history: pd.DataFrame, names_by_id: dict[int, str],
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


def run(context: StageContext) -> dict[str, int]:
    """Size and combine the window's signals into portfolio targets."""
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        sized = size_window(_read_inputs(conn, context), context)
        conn.execute("DELETE FROM targets WHERE as_of BETWEEN %s AND %s", window)
        conn.execute("DELETE FROM portfolio_targets WHERE as_of BETWEEN %s AND %s", window)
        conn.execute("DELETE FROM portfolio_diagnostics WHERE as_of BETWEEN %s AND %s", window)
        written_targets = copy_rows(conn, "targets", sized["targets"].sort_values(
            ["as_of", "strategy_id", "instrument_id"]), TARGET_COLUMNS)
        written_book = copy_rows(conn, "portfolio_targets", sized["portfolio_targets"]
                                 .sort_values(["as_of", "instrument_id"]), PORTFOLIO_COLUMNS)
        diagnostics = sized["diagnostics"]
        copy_rows(conn, "portfolio_diagnostics", diagnostics, DIAGNOSTIC_COLUMNS)
        conn.execute("""DELETE FROM risk_events WHERE as_of BETWEEN %s AND %s
                        AND check_name = ANY(%s)""", (*window, list(STOP_CHECKS)))
        stops = sized["stop_events"].assign(run_id=context.run_id)
        copy_rows(conn, "risk_events", stops.sort_values(["as_of", "check_name", "subject"]),
                  STOP_EVENT_COLUMNS)
    scale = diagnostics["volatility_scale"] if len(diagnostics) else pd.Series([np.nan])
    return {"targets": written_targets, "portfolio_targets": written_book,
            "stop_triggers": len(stops), "mean_volatility_scale": round(float(scale.mean()), 3)}
