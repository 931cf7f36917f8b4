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
target of zero. The sizing itself is the core's :func:`macroquant.portfolio.book.size_book` (the book
backtest runs the same function).
A **paused** strategy (``strategy_controls``) gets no signal rows while paused, and a
strategy that **raised** in the signals stage gets none for that run; on those
dates its targets of its latest earlier session are carried forward (same quantities,
:func:`macroquant.portfolio.book.hold_paused`), so its positions are held, not flattened.
Idempotency key: ``as_of`` in the window (the three tables and the window's stop events
replaced). Stops depend on earlier ``targets``: rerun later windows after an earlier one.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

from macroquant.auth.strategy_controls import paused_strategies
from macroquant.config.settings import DEFAULT_STOPS
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError
from macroquant.features.catalog import feature_name
from macroquant.pipeline.context import StageContext
from macroquant.portfolio.book import (
    DIAGNOSTIC_COLUMNS,
    PORTFOLIO_COLUMNS,
    STOP_CHECKS,
    STOP_EVENT_COLUMNS,
    TARGET_COLUMNS,
    BookInputs,
    long_to_wide,
    silent_strategies,
    size_book,
)


def lookback_start(context: StageContext) -> date:
    """The first date the sizing reads: calendar days covering ``correlation_lookback``
    sessions before the window, with room for holidays."""
    lookback = context.trading.portfolio.correlation_lookback
    return context.start - timedelta(days=int(lookback * 1.6) + 10)


def read_adjusted_closes(conn: psycopg.Connection, start: date, end: date) -> pd.DataFrame:
    """Back-adjusted closes (``coalesce(adj_close, close)``) from ``start`` to ``end``,
    dates × symbols, on the dates the bars have (the correlation estimates' returns)."""
    closes = read_frame(conn, """SELECT m.trade_date, i.symbol, coalesce(m.adj_close, m.close)
                                        AS close
                                 FROM market_data m JOIN instruments i USING (instrument_id)
                                 WHERE m.trade_date BETWEEN %s AND %s""", (start, end))
    return long_to_wide(closes, "trade_date", "close")


def read_book_inputs(conn: psycopg.Connection, context: StageContext) -> BookInputs:
    """The portfolio stage's inputs for the window, from the tables the docstring names."""
    config = context.trading.portfolio
    volatility = feature_name("return_volatility", config.volatility_span)
    history_start = lookback_start(context)
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
    holding = sorted(set(paused) | silent_strategies(signals, list(strategies["name"]),
                                                     context.sessions))
    held = read_frame(conn, """SELECT st.name AS strategy, i.symbol, t.signal_strength,
                                      t.price, t.instrument_volatility, t.target_quantity
                               FROM targets t JOIN strategies st USING (strategy_id)
                               JOIN instruments i USING (instrument_id)
                               WHERE st.name = ANY(%s)
                                 AND t.as_of = (SELECT max(p.as_of) FROM targets p
                                                WHERE p.strategy_id = t.strategy_id
                                                  AND p.as_of < %s)""",
                      (holding, context.start))
    return BookInputs(
        strategies=strategies, instruments=instruments, signals=signals,
        stop_history=stop_history, paused=paused, held=held,
        prices=long_to_wide(features[features["feature"] == "price"], "as_of", "value"),
        volatility=long_to_wide(features[features["feature"] == volatility], "as_of", "value"),
        closes=read_adjusted_closes(conn, history_start, context.end),
        previous=previous.set_index("symbol")["target_quantity"].astype(float))


def run(context: StageContext) -> dict[str, int]:
    """Size and combine the window's signals into portfolio targets."""
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        sized = size_book(read_book_inputs(conn, context), context.trading, context.sessions)
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
