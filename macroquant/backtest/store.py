"""A backtest's database I/O: its point-in-time inputs, and storing a run under its id
(tables of ``sql/0006_backtests.sql``, and the per-strategy daily performance of
``sql/0007_strategy_monitoring.sql``)."""

from __future__ import annotations

import json
import math
import uuid

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.backtest.data import MarketPanels
from macroquant.backtest.engine import BacktestInputs, BacktestOptions, BacktestResult
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.economics.point_in_time import read_panel_as_of
from macroquant.errors import MissingInputError
from macroquant.features.catalog import MAX_FILL_SESSIONS
from macroquant.strategies.base import Strategy
from macroquant.strategies.loader import LoadedStrategy
from macroquant.strategies.monitoring import monitor, store_backtest_performance


def new_backtest_id(strategy_name: str) -> str:
    """A fresh run id: ``bt-<strategy>-<12 hex digits>``."""
    return f"bt-{strategy_name}-{uuid.uuid4().hex[:12]}"


def json_safe(value: object) -> object:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def read_backtest_inputs(conn: psycopg.Connection, strategy: Strategy,
                         panels: MarketPanels) -> BacktestInputs:
    """The macro panel and asset classes a strategy reads, for the panels' dates.

    As in the signals stage, a macro name is an economic series, read as public on each
    date (:func:`read_panel_as_of`: no value released after a date is seen on it), or else
    an instrument, read as its raw close (carried over at most ``MAX_FILL_SESSIONS``
    missing sessions). A name that is neither is a :class:`MissingInputError`.
    """
    dates = panels.dates
    symbols = [str(c) for c in panels.close.columns]
    classes = read_frame(conn, "SELECT symbol, asset_class FROM instruments "
                               "WHERE symbol = ANY(%s)", (symbols,))
    asset_classes = pd.Series(classes["asset_class"].to_numpy(dtype=object),
                              index=classes["symbol"].to_numpy(dtype=object))
    names = sorted(strategy.required_macro())
    if not names:
        return BacktestInputs(asset_classes=asset_classes)
    series = sorted(r[0] for r in conn.execute(
        "SELECT series_id FROM economic_series WHERE series_id = ANY(%s)", (names,)))
    closes = read_frame(conn, """SELECT i.symbol, m.trade_date, m.close FROM market_data m
                                 JOIN instruments i USING (instrument_id)
                                 WHERE i.symbol = ANY(%s) AND m.trade_date <= %s""",
                        (sorted(set(names) - set(series)), dates.max().date()))
    unknown = sorted(set(names) - set(series) - set(closes["symbol"]))
    if unknown:
        raise MissingInputError(f"macro input '{unknown[0]}' is neither an economic series "
                                "nor an instrument with prices in the database")
    columns: dict[str, pd.Series] = {}
    if series:
        panel = read_panel_as_of(conn, series, dates)
        columns.update({name: panel[name].reindex(dates) for name in series})
    if not closes.empty:
        closes["trade_date"] = pd.to_datetime(closes["trade_date"])
        wide = closes.pivot(index="trade_date", columns="symbol", values="close").astype(float)
        wide = wide.reindex(wide.index.union(dates)).ffill(limit=MAX_FILL_SESSIONS)
        columns.update({name: wide[name].reindex(dates) for name in wide.columns})
    return BacktestInputs(macro=pd.DataFrame(columns, index=dates)[names],
                          asset_classes=asset_classes)


def backtest_strategy_id(conn: psycopg.Connection, loaded: LoadedStrategy) -> int:
    """The ``strategies`` row of a backtested strategy: the existing one of that name, or a
    new one with ``enabled = false`` (a backtest never puts a strategy into the daily
    pipeline; the signals stage enables it when its file is in the strategies
    directory)."""
    conn.execute("""INSERT INTO strategies (name, strategy_type, config, config_hash,
                                            source_file, enabled)
                    VALUES (%s, %s, %s, %s, %s, false) ON CONFLICT (name) DO NOTHING""",
                 (loaded.config.name, loaded.config.type,
                  Jsonb(loaded.config.model_dump(mode="json")), loaded.config_hash,
                  loaded.source_file))
    row = conn.execute("SELECT strategy_id FROM strategies WHERE name = %s",
                       (loaded.config.name,)).fetchone()
    return int(row[0])


def save_backtest(conn: psycopg.Connection, backtest_id: str, loaded: LoadedStrategy,
                  options: BacktestOptions, result: BacktestResult, *, price_source: str,
                  n_trials: int = 1) -> None:
    """Write the run row, its equity, positions and trades, and the strategy's daily
    backtest performance (``strategy_backtest_performance``) with its rolling statistics
    on the last date (``strategy_monitoring``, source ``backtest``; a bound left is a
    WARNING in ``system_logs``), inside the caller's transaction."""
    dates = result.equity.index
    conn.execute(
        """INSERT INTO backtest_runs (backtest_id, strategy_name, config, config_hash,
               source_file, price_source, start_date, end_date, initial_capital,
               final_equity, execution_price, options, metrics, n_trials)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (backtest_id, loaded.config.name, Jsonb(loaded.config.model_dump(mode="json")),
         loaded.config_hash, loaded.source_file, price_source, dates[0].date(),
         dates[-1].date(), options.capital, result.final_equity, options.price,
         Jsonb(json.loads(options.model_dump_json())), Jsonb(json_safe(result.metrics)),
         n_trials))
    equity = pd.DataFrame({"backtest_id": backtest_id, "as_of": dates.date,
                           "cash": result.cash.to_numpy(), "equity": result.equity.to_numpy()})
    copy_rows(conn, "backtest_equity", equity, ["backtest_id", "as_of", "cash", "equity"])
    held = result.positions.stack().rename("quantity").reset_index()
    held.columns = ["as_of", "symbol", "quantity"]
    held["market_value"] = (result.positions * result.marks).stack().to_numpy()
    held = held[held["quantity"] != 0].assign(backtest_id=backtest_id)
    held["as_of"] = pd.DatetimeIndex(held["as_of"]).date
    copy_rows(conn, "backtest_positions", held,
              ["backtest_id", "as_of", "symbol", "quantity", "market_value"])
    trades = result.trades.assign(backtest_id=backtest_id,
                                  trade_no=range(1, len(result.trades) + 1))
    for column in ("signal_date", "trade_date"):
        trades[column] = pd.DatetimeIndex(trades[column]).date
    copy_rows(conn, "backtest_trades", trades,
              ["backtest_id", "trade_no", "signal_date", "trade_date", "symbol", "side",
               "quantity", "reference_price", "price", "price_field", "commission",
               "slippage_cost"])
    strategy_id = backtest_strategy_id(conn, loaded)
    store_backtest_performance(conn, backtest_id, strategy_id, result.equity)
    monitor(conn, [loaded], {loaded.config.name: strategy_id}, dates[-1].date(),
            source="backtest", source_ref=backtest_id)
