"""Storing a book backtest under its id, in the tables of ``sql/0006_backtests.sql``:
``backtest_runs`` (``strategy_name`` ``book``, the strategy files and the trading
configuration as run in ``config`` and ``options``), ``backtest_equity``,
``backtest_positions`` and ``backtest_trades`` (one row per fill; ``signal_date`` is the
order's date)."""

from __future__ import annotations

import hashlib
import json
import uuid

import psycopg
from psycopg.types.json import Jsonb

from macroquant.backtest.book import BookBacktest
from macroquant.backtest.store import json_safe
from macroquant.config.settings import Settings, load_trading_config
from macroquant.db.bulk import copy_rows
from macroquant.strategies.loader import load_strategies

BOOK = "book"


def new_book_backtest_id() -> str:
    """A fresh run id: ``bt-book-<12 hex digits>``."""
    return f"bt-{BOOK}-{uuid.uuid4().hex[:12]}"


def save_book_backtest(conn: psycopg.Connection, backtest_id: str, result: BookBacktest,
                       settings: Settings) -> None:
    """Write the run row, its daily equity, end-of-day positions and fills, inside the
    caller's transaction."""
    strategies = {item.config.name: item.config.model_dump(mode="json")
                  for item in load_strategies(settings.strategies_dir)}
    trading_config = load_trading_config(settings.config_path)
    trading = json.loads(trading_config.model_dump_json())
    config = {"strategies": strategies}
    digest = hashlib.sha256(json.dumps([config, trading], sort_keys=True).encode()).hexdigest()
    performance = result.performance
    conn.execute(
        """INSERT INTO backtest_runs (backtest_id, strategy_name, config, config_hash,
               source_file, price_source, start_date, end_date, initial_capital,
               final_equity, execution_price, options, metrics, n_trials)
           VALUES (%s, %s, %s, %s, %s, 'market_data', %s, %s, %s, %s, %s, %s, %s, 1)""",
        (backtest_id, BOOK, Jsonb(config), digest, str(settings.strategies_dir),
         result.start, result.end, result.capital, float(performance["equity"].iloc[-1]),
         trading_config.broker.execution_price, Jsonb(trading),
         Jsonb(json_safe(result.metrics()))))
    copy_rows(conn, "backtest_equity", performance.assign(backtest_id=backtest_id),
              ["backtest_id", "as_of", "cash", "equity"])
    symbols = result.symbols
    positions = result.positions.assign(backtest_id=backtest_id,
                                        symbol=result.positions["instrument_id"].map(symbols))
    copy_rows(conn, "backtest_positions", positions,
              ["backtest_id", "as_of", "symbol", "quantity", "market_value"])
    signal_dates = result.orders.set_index("client_order_id")["as_of"]
    trades = result.trades.assign(
        backtest_id=backtest_id, trade_no=range(1, len(result.trades) + 1),
        signal_date=result.trades["client_order_id"].map(signal_dates),
        symbol=result.trades["instrument_id"].map(symbols))
    copy_rows(conn, "backtest_trades", trades,
              ["backtest_id", "trade_no", "signal_date", "trade_date", "symbol", "side",
               "quantity", "reference_price", "price", "price_field", "commission",
               "slippage_cost"])
