"""Store a backtest under its run id (tables of ``sql/0006_backtests.sql``)."""

from __future__ import annotations

import json
import math
import uuid

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.backtest.engine import BacktestOptions, BacktestResult
from macroquant.db.bulk import copy_rows
from macroquant.strategies.loader import LoadedStrategy


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


def save_backtest(conn: psycopg.Connection, backtest_id: str, loaded: LoadedStrategy,
                  options: BacktestOptions, result: BacktestResult, *, price_source: str,
                  n_trials: int = 1) -> None:
    """Write the run row, its equity, positions and trades (inside the caller's
    transaction)."""
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

