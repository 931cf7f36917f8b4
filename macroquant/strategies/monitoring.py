"""Strategy monitoring: rolling Sharpe and drawdown per strategy, checked against the
bounds of its YAML ``monitoring:`` block; a breach is logged to ``system_logs``.

Paper performance is read from ``performance`` (scope ``strategy:<name>``, written by the
reports stage); backtest performance from ``strategy_backtest_performance``. The statistics
are pure functions of a daily return series.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.features.indicators import TRADING_DAYS_PER_YEAR
from macroquant.pipeline.logs import write_system_log
from macroquant.strategies.loader import LoadedStrategy, MonitoringConfig


def rolling_statistics(returns: pd.Series, window: int) -> pd.DataFrame:
    """Per date: annualised Sharpe of the last ``window`` daily returns (mean / sample std
    × sqrt(252); NaN before ``window`` returns or when they do not vary) and the drawdown of
    the compounded equity from its running peak (<= 0)."""
    rolling = returns.rolling(window, min_periods=window)
    std = rolling.std(ddof=1)
    sharpe = rolling.mean() / std.where(std > 0) * np.sqrt(TRADING_DAYS_PER_YEAR)
    equity = (1.0 + returns.fillna(0.0)).cumprod()
    drawdown = np.minimum(0.0, equity / np.maximum(equity.cummax(), 1.0) - 1.0)
    return pd.DataFrame({"rolling_sharpe": sharpe, "drawdown": drawdown})


def breaches(rolling_sharpe: float, drawdown: float, bounds: MonitoringConfig) -> list[str]:
    """Which bounds a day's statistics leave, as readable strings."""
    out = []
    if (bounds.min_rolling_sharpe is not None and np.isfinite(rolling_sharpe)
            and rolling_sharpe < bounds.min_rolling_sharpe):
        out.append(f"rolling Sharpe {rolling_sharpe:.2f} < {bounds.min_rolling_sharpe:.2f} "
                   f"over {bounds.window} sessions")
    if bounds.max_drawdown is not None and -drawdown > bounds.max_drawdown:
        out.append(f"drawdown {-drawdown:.1%} > {bounds.max_drawdown:.1%}")
    return out


def _returns(conn: psycopg.Connection, source: str, strategy_id: int, name: str,
             as_of: date, source_ref: str) -> pd.Series:
    if source == "paper":
        rows = read_frame(conn, """SELECT as_of, daily_return FROM performance
                                   WHERE scope = %s AND as_of <= %s ORDER BY as_of""",
                          (f"strategy:{name}", as_of))
    else:
        rows = read_frame(conn, """SELECT as_of, daily_return FROM
                                   strategy_backtest_performance WHERE backtest_id = %s
                                   AND strategy_id = %s AND as_of <= %s ORDER BY as_of""",
                          (source_ref, strategy_id, as_of))
    return pd.Series(rows["daily_return"].to_numpy(dtype=float),
                     index=pd.to_datetime(rows["as_of"]))


def monitor(conn: psycopg.Connection, strategies: list[LoadedStrategy],
            strategy_ids: dict[str, int], as_of: date, run_id: str | None = None,
            source: str = "paper", source_ref: str = "") -> list[tuple[str, list[str]]]:
    """Store each strategy's statistics on ``as_of`` and log a WARNING per breach.

    Returns ``(strategy name, breaches)`` for every strategy that had returns.
    """
    results = []
    for item in strategies:
        name, bounds = item.config.name, item.config.monitoring
        returns = _returns(conn, source, strategy_ids[name], name, as_of, source_ref)
        if returns.empty:
            continue
        last = rolling_statistics(returns, bounds.window).iloc[-1]
        sharpe = float(last["rolling_sharpe"])
        found = breaches(sharpe, float(last["drawdown"]), bounds)
        conn.execute(
            """INSERT INTO strategy_monitoring (as_of, strategy_id, source, source_ref,
                   window_sessions, rolling_sharpe, drawdown, breaches)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (as_of, strategy_id, source, source_ref) DO UPDATE SET
                   window_sessions = EXCLUDED.window_sessions,
                   rolling_sharpe = EXCLUDED.rolling_sharpe,
                   drawdown = EXCLUDED.drawdown, breaches = EXCLUDED.breaches""",
            (as_of, strategy_ids[name], source, source_ref, bounds.window,
             sharpe if np.isfinite(sharpe) else None, float(last["drawdown"]), found))
        for breach in found:
            write_system_log(conn, "WARNING", "macroquant.strategies.monitoring",
                             f"strategy {name} ({source}) left its bounds on {as_of}: "
                             f"{breach}", run_id,
                             {"strategy": name, "source": source, "source_ref": source_ref,
                              "as_of": str(as_of)})
        results.append((name, found))
    return results


def _kinds(found: list[str]) -> set[str]:
    return {"sharpe" if text.startswith("rolling Sharpe") else "drawdown" for text in found}


def monitor_window(conn: psycopg.Connection, strategies: list[LoadedStrategy],
                   strategy_ids: dict[str, int], sessions: list[date],
                   run_id: str | None = None) -> int:
    """Paper monitoring of every session of a window (the reports stage calls it).

    Stores each strategy's rolling Sharpe and drawdown per session and logs a WARNING when
    a bound is *left*: a breach kind present on a session but not on the session before.
    A rerun writes the same rows and no second alert. Returns the alerts logged.
    """
    if not sessions:
        return 0
    first, last = min(sessions), max(sessions)
    alerts = 0
    for item in strategies:
        name, bounds = item.config.name, item.config.monitoring
        strategy_id = strategy_ids[name]
        returns = _returns(conn, "paper", strategy_id, name, last, "")
        if returns.empty:
            continue
        stats = rolling_statistics(returns, bounds.window)
        stored = dict(conn.execute(
            """SELECT as_of, breaches FROM strategy_monitoring WHERE strategy_id = %s
               AND source = 'paper' AND source_ref = '' AND as_of BETWEEN %s AND %s""",
            (strategy_id, first, last)).fetchall())
        previous: set[str] = set()
        before = stats[stats.index < pd.Timestamp(first)]
        if len(before):
            row = before.iloc[-1]
            previous = _kinds(breaches(float(row["rolling_sharpe"]), float(row["drawdown"]),
                                       bounds))
        for day, row in stats[stats.index >= pd.Timestamp(first)].iterrows():
            as_of = day.date()
            sharpe = float(row["rolling_sharpe"])
            found = breaches(sharpe, float(row["drawdown"]), bounds)
            conn.execute(
                """INSERT INTO strategy_monitoring (as_of, strategy_id, source, source_ref,
                       window_sessions, rolling_sharpe, drawdown, breaches)
                   VALUES (%s, %s, 'paper', '', %s, %s, %s, %s)
                   ON CONFLICT (as_of, strategy_id, source, source_ref) DO UPDATE SET
                       window_sessions = EXCLUDED.window_sessions,
                       rolling_sharpe = EXCLUDED.rolling_sharpe,
                       drawdown = EXCLUDED.drawdown, breaches = EXCLUDED.breaches""",
                (as_of, strategy_id, bounds.window, sharpe if np.isfinite(sharpe) else None,
                 float(row["drawdown"]), found))
            kinds = _kinds(found)
            already = as_of in stored and _kinds(list(stored[as_of])) == kinds
            if kinds - previous and not already:
                for breach in found:
                    write_system_log(conn, "WARNING", "macroquant.strategies.monitoring",
                                     f"strategy {name} (paper) left its bounds on {as_of}: "
                                     f"{breach}", run_id,
                                     {"strategy": name, "source": "paper",
                                      "as_of": str(as_of)})
                    alerts += 1
            previous = kinds
    return alerts


def store_backtest_performance(conn: psycopg.Connection, backtest_id: str, strategy_id: int,
                               equity: pd.Series) -> int:
    """Store a backtest's daily equity curve for one strategy (replacing that run's rows);
    daily return and drawdown are derived from it. Returns rows written."""
    returns = equity.pct_change().fillna(0.0)
    drawdown = np.minimum(0.0, equity / equity.cummax() - 1.0)
    conn.execute("""DELETE FROM strategy_backtest_performance
                    WHERE backtest_id = %s AND strategy_id = %s""", (backtest_id, strategy_id))
    rows = [(backtest_id, strategy_id, pd.Timestamp(d).date(), float(e), float(r), float(dd))
            for d, e, r, dd in zip(equity.index, equity, returns, drawdown, strict=True)]
    with conn.cursor() as cur:
        cur.executemany("""INSERT INTO strategy_backtest_performance (backtest_id,
                           strategy_id, as_of, equity, daily_return, drawdown)
                           VALUES (%s, %s, %s, %s, %s, %s)""", rows)
    return len(rows)
