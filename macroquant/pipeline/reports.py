"""Stage 8 — reports: per-strategy performance, the daily report and, on the last session of
a week, the weekly report.

Input: ``targets`` and ``features`` (``price``) for per-strategy P&L; ``performance``
(portfolio), ``positions``, ``orders``, ``trades``, ``risk_events``, ``instruments``,
``strategies``.
Output: ``performance`` rows with scope ``'strategy:<name>'`` for the window's sessions
(notional P&L of the strategy's own targets held from one close to the next, before netting
and costs), ``strategy_monitoring`` rows (rolling Sharpe and drawdown per strategy and
session; a WARNING in ``system_logs`` when a strategy leaves its YAML bounds), the HTML and
PDF reports of the window's last session on disk (daily; weekly too
when it ends a week), and their ``reports`` rows; ``divergence`` rows (the shadow book of
each account, :mod:`macroquant.pipeline.divergence`).
Idempotency key: ``as_of`` in the window for strategy performance; ``(report_date, kind)``
for the report (the file is rewritten with the same content).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from macroquant.calendars import previous_session
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.divergence import store_divergence
from macroquant.pipeline.orders import PERFORMANCE_COLUMNS
from macroquant.reports.report_builder import ReportFiles, is_last_session_of_week, write_report


def strategy_performance(
    quantities: pd.DataFrame, prices: pd.DataFrame, opening: dict[str, float]
) -> pd.DataFrame:
    """Daily performance of one strategy's notional book.

    ``quantities`` and ``prices`` are wide (sessions × instrument), including the session
    before the window as their first row; ``opening`` has ``equity`` and ``high_water``
    before the window. P&L on day t is ``sum_i q[t-1, i] * (p[t, i] - p[t-1, i])``.
    """
    prices = prices.ffill()
    held = quantities.shift(1).fillna(0.0)
    pnl = (held * prices.diff()).fillna(0.0).sum(axis=1).iloc[1:]
    equity = opening["equity"] + pnl.cumsum()
    previous = equity.shift(1).fillna(opening["equity"])
    high_water = np.maximum(equity.cummax(), opening["high_water"])
    exposure = (quantities * prices).iloc[1:]
    return pd.DataFrame({
        "as_of": equity.index, "equity": equity.to_numpy(), "cash": np.nan,
        "daily_pnl": pnl.to_numpy(), "daily_return": (equity / previous - 1.0).to_numpy(),
        "drawdown": np.minimum(0.0, equity / high_water - 1.0).to_numpy(),
        "gross_exposure": exposure.abs().sum(axis=1).to_numpy(),
        "net_exposure": exposure.sum(axis=1).to_numpy(), "commission": 0.0,
    })


def _strategy_rows(conn: psycopg.Connection, context: StageContext) -> pd.DataFrame:
    before = previous_session(context.start)
    index = pd.DatetimeIndex(pd.to_datetime([before, *context.sessions]))
    targets = read_frame(conn, """SELECT as_of, strategy_id, instrument_id, target_quantity
                                  FROM targets WHERE as_of BETWEEN %s AND %s""",
                         (before, context.end))
    prices = read_frame(conn, """SELECT as_of, instrument_id, value FROM features
                                 WHERE feature = 'price' AND as_of BETWEEN %s AND %s""",
                        (before, context.end))
    for frame in (targets, prices):
        frame["as_of"] = pd.to_datetime(frame["as_of"])
    price_panel = prices.pivot(index="as_of", columns="instrument_id", values="value")
    price_panel = price_panel.astype(float).reindex(index)
    strategies = read_frame(conn, "SELECT strategy_id, name, config FROM strategies "
                                  "WHERE enabled ORDER BY name")
    frames = []
    for strategy in strategies.itertuples():
        scope = f"strategy:{strategy.name}"
        opening = conn.execute(
            """SELECT (SELECT equity FROM performance WHERE scope = %s AND as_of < %s
                       ORDER BY as_of DESC LIMIT 1),
                      (SELECT max(equity) FROM performance WHERE scope = %s AND as_of < %s)""",
            (scope, context.start, scope, context.start)).fetchone()
        capital = context.trading.trading_capital * float(strategy.config["weight"])
        mine = targets[targets["strategy_id"] == strategy.strategy_id]
        quantities = (mine.pivot(index="as_of", columns="instrument_id", values="target_quantity")
                      .astype(float).reindex(index=index, columns=price_panel.columns)
                      .fillna(0.0))
        rows = strategy_performance(quantities, price_panel, {
            "equity": opening[0] if opening[0] is not None else capital,
            "high_water": opening[1] if opening[1] is not None else capital})
        frames.append(rows.assign(scope=scope))
    if not frames:
        return pd.DataFrame(columns=PERFORMANCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PERFORMANCE_COLUMNS]


def _monitor_strategies(conn: psycopg.Connection, context: StageContext) -> int:
    """Rolling Sharpe and drawdown of each strategy against its YAML ``monitoring`` bounds
    (see :mod:`macroquant.strategies.monitoring`)."""
    from macroquant.strategies.loader import load_strategies
    from macroquant.strategies.monitoring import monitor_window

    strategies = load_strategies(context.settings.strategies_dir)
    ids = dict(conn.execute("SELECT name, strategy_id FROM strategies").fetchall())
    known = [item for item in strategies if item.config.name in ids]
    return monitor_window(conn, known, ids, list(context.sessions), context.run_id)


def write_reports(conn: psycopg.Connection, context: StageContext) -> list[ReportFiles]:
    """The daily report of ``context.end``, and the weekly one when it ends a week."""
    kinds = ["daily", "weekly"] if is_last_session_of_week(context.end) else ["daily"]
    return [write_report(conn, context.settings.reports_dir, kind, context.end,
                         context.trading)
            for kind in kinds]


def run(context: StageContext) -> dict[str, int]:
    """Store per-strategy performance for the window and write the daily report."""
    with transaction(context.url) as conn:
        rows = _strategy_rows(conn, context)
        conn.execute("""DELETE FROM performance WHERE scope LIKE 'strategy:%%'
                        AND as_of BETWEEN %s AND %s""", (context.start, context.end))
        written = copy_rows(conn, "performance", rows, PERFORMANCE_COLUMNS)
        alerts = _monitor_strategies(conn, context)
        diverged = store_divergence(conn, context.trading, context.start, context.end,
                                    context.run_id)
        reports = write_reports(conn, context)
    return {"strategy_performance": written, "strategy_alerts": alerts,
            "divergence": diverged, "reports": len(reports)}

