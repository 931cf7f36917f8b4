"""Build a daily or weekly report: read its inputs, render HTML and PDF, store both.

Input tables: ``performance``, ``positions``, ``orders``, ``risk_events``, ``trades``,
``instruments``, ``strategies``. Output: ``$MACROQUANT_REPORTS_DIR/<kind>/<as_of>.html``
and ``.pdf`` (plotly.min.js beside the HTML) and the ``reports`` row.
Idempotency key: ``(report_date, kind)``; the files are rewritten with the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.calendars import session_on_or_after, sessions
from macroquant.config.settings import TradingConfig
from macroquant.db.bulk import read_frame
from macroquant.reports.attribution_data import load_attribution
from macroquant.reports.html_report import ensure_plotly_js, render_report
from macroquant.reports.metrics import summary
from macroquant.reports.pdf_report import render_pdf
from macroquant.reports.risk_target_data import stored_volatility_budget

ReportKind = Literal["daily", "weekly"]
KINDS: tuple[str, ...] = ("daily", "weekly")
# A daily report attributes the last month of sessions, not its one day: a single day has
# no volatility to split, and one day's winners and losers say little.
DAILY_ATTRIBUTION_SESSIONS = 21


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written and the summary stored with it."""

    html: Path
    pdf: Path
    summary: dict[str, object]


def period_start(kind: str, as_of: date) -> date:
    """First day a report covers: ``as_of`` itself for a daily report; for a weekly one,
    the first session of the week (Monday to ``as_of``)."""
    if kind == "daily":
        return as_of
    monday = as_of - timedelta(days=as_of.weekday())
    week = sessions(monday, as_of)
    return week[0] if week else as_of


def attribution_start(kind: str, first: date, history: pd.Series) -> date:
    """First session a report's attribution covers: a weekly report attributes its week
    (from ``first``); a daily one the last :data:`DAILY_ATTRIBUTION_SESSIONS` sessions of
    ``history`` (the portfolio's dates up to the report's day), or all of them when there
    are fewer."""
    if kind != "daily" or history.empty:
        return first
    dates = pd.to_datetime(history).sort_values()
    return dates.iloc[max(0, len(dates) - DAILY_ATTRIBUTION_SESSIONS)].date()


def is_last_session_of_week(day: date) -> bool:
    """True when the next session falls in another ISO week (the weekly report's day)."""
    following = session_on_or_after(day + timedelta(days=1))
    return following.isocalendar()[:2] != day.isocalendar()[:2]


def _inputs(conn: psycopg.Connection, kind: str, as_of: date,
            trading: TradingConfig | None = None) -> dict[str, object]:
    first = period_start(kind, as_of)
    performance = read_frame(conn, """SELECT as_of, scope, equity, daily_pnl, daily_return,
                                             drawdown FROM performance WHERE as_of <= %s
                                      ORDER BY scope, as_of""", (as_of,))
    portfolio = performance[performance["scope"] == "portfolio"].reset_index(drop=True)
    positions = read_frame(conn, """SELECT i.symbol, i.asset_class, p.quantity, p.average_cost,
                                           p.last_price, p.market_value, p.unrealized_pnl
                                    FROM positions p JOIN instruments i USING (instrument_id)
                                    WHERE p.as_of = %s ORDER BY i.symbol""", (as_of,))
    orders = read_frame(conn, """SELECT o.client_order_id, i.symbol, o.side, o.quantity,
                                        o.status FROM orders o JOIN instruments i USING (instrument_id)
                                 WHERE o.as_of = %s ORDER BY o.client_order_id""", (as_of,))
    risk = read_frame(conn, """SELECT check_name, outcome, count(*) AS events FROM risk_events
                               WHERE as_of BETWEEN %s AND %s GROUP BY check_name, outcome
                               ORDER BY check_name, outcome""", (first, as_of))
    divergence = read_frame(conn, """SELECT broker, cause, sum(amount) AS amount,
                                            sum(orders) AS orders FROM divergence
                                     WHERE as_of BETWEEN %s AND %s GROUP BY broker, cause
                                     ORDER BY broker, cause""", (first, as_of))
    budget = stored_volatility_budget(conn, trading or TradingConfig(), first, as_of)
    attributed_from = attribution_start(kind, first, portfolio["as_of"])
    attribution = load_attribution(conn, attributed_from, as_of)
    tables = attribution.tables() if len(attribution.portfolio_pnl) else {}
    returns = portfolio["daily_return"].astype(float)
    return {"kind": kind, "as_of": as_of, "period_start": first, "portfolio": portfolio,
            "strategies": performance[performance["scope"] != "portfolio"],
            "positions": positions, "orders": orders, "risk_summary": risk,
            "metrics": summary(returns) if len(returns) else {}, "attribution": tables,
            "attribution_start": attributed_from, "divergence": divergence,
            "volatility_budget": budget.lines()}


def write_report(conn: psycopg.Connection, reports_dir: Path, kind: str, as_of: date,
                 trading: TradingConfig | None = None) -> ReportFiles:
    """Render the ``kind`` report of ``as_of`` to HTML and PDF and upsert its row;
    ``trading``: the configuration whose volatility target the report compares with (the
    shipped defaults when not given)."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind '{kind}'; known: {', '.join(KINDS)}")
    inputs = _inputs(conn, kind, as_of, trading)
    directory = reports_dir / kind
    directory.mkdir(parents=True, exist_ok=True)
    ensure_plotly_js(directory)
    html_path = directory / f"{as_of.isoformat()}.html"
    pdf_path = directory / f"{as_of.isoformat()}.pdf"
    html_path.write_text(render_report(**inputs), encoding="utf-8")
    pdf_path.write_bytes(render_pdf(
        kind, as_of, inputs["period_start"], inputs["portfolio"], inputs["positions"],
        inputs["metrics"], inputs["attribution"], inputs["attribution_start"]))
    portfolio: pd.DataFrame = inputs["portfolio"]
    in_period = portfolio[pd.to_datetime(portfolio["as_of"]) >= pd.Timestamp(
        inputs["period_start"])]
    last = portfolio.iloc[-1] if len(portfolio) else None
    strategy_table = inputs["attribution"].get("strategy")
    report_summary = {
        "period_start": inputs["period_start"].isoformat(),
        "attribution_start": inputs["attribution_start"].isoformat(),
        "equity": None if last is None else float(last["equity"]),
        "period_pnl": float(in_period["daily_pnl"].sum()) if len(in_period) else 0.0,
        "daily_pnl": None if last is None else float(last["daily_pnl"]),
        "positions": len(inputs["positions"]), "orders_sent": len(inputs["orders"]),
        "pdf": str(pdf_path),
        "contribution_by_strategy": ({} if strategy_table is None else {
            str(k): float(v) for k, v in strategy_table["pnl"].items() if k != "total"}),
        "metrics": {k: (None if not np.isfinite(v) else v)
                    for k, v in inputs["metrics"].items()},
    }
    conn.execute("""INSERT INTO reports (report_date, kind, path, summary)
                    VALUES (%s, %s, %s, %s) ON CONFLICT (report_date, kind)
                    DO UPDATE SET path = EXCLUDED.path, summary = EXCLUDED.summary""",
                 (as_of, kind, str(html_path), Jsonb(report_summary)))
    return ReportFiles(html=html_path, pdf=pdf_path, summary=report_summary)
