"""Read-only queries behind the Streamlit dashboard (``streamlit_app/app.py``).

Every function takes an open connection and returns a DataFrame (or a small value); none
writes. SQL is parameterised; dates come back as ``datetime64`` columns and numbers as
floats, so the dashboard only formats and plots. The pure helpers at the end
(:func:`summarise_performance`, :func:`exposure_by_asset_class`, :func:`last_run`) work
on frames these queries return.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

import pandas as pd
import psycopg
from psycopg import sql

from macroquant.db.bulk import read_frame
from macroquant.reports import metrics
from macroquant.risk.kill_switch import INSTALL_ACTOR

STRATEGY_SCOPE_PREFIX = "strategy:"
KILL_SWITCH_INSTALL_ACTOR = INSTALL_ACTOR
# Tables whose rows mean "the pipeline has produced something to show".
_OUTPUT_TABLES = ("performance", "positions", "signals", "orders", "pipeline_runs", "quarantine")


def _typed(frame: pd.DataFrame, dates: Iterable[str] = (), numbers: Iterable[str] = ()) -> pd.DataFrame:
    """Cast date columns to ``datetime64`` and number columns to float (NULL -> NaN)."""
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    for column in numbers:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def schema_present(conn: psycopg.Connection) -> bool:
    """Whether MacroQuant's tables exist (the database was migrated). Reads the catalog."""
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
        ("performance", "pipeline_runs"),
    ).fetchone()
    return bool(row and row[0])


def login_required(conn: psycopg.Connection) -> bool:
    """True once any enabled user exists: from then on the dashboard asks for a login.
    (With no users, a fresh install stays viewable on 127.0.0.1.) Table: users."""
    exists = conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone()[0]
    if not exists:
        return False
    return bool(conn.execute("SELECT exists(SELECT 1 FROM users WHERE NOT disabled)"
                             ).fetchone()[0])


def has_pipeline_output(conn: psycopg.Connection) -> bool:
    """Whether any pipeline output exists. Tables: performance, positions, signals, orders,
    pipeline_runs, quarantine (one ``EXISTS`` probe each; the names are constants)."""
    probes = sql.SQL(" OR ").join(
        sql.SQL("EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table))
        for table in _OUTPUT_TABLES
    )
    row = conn.execute(sql.SQL("SELECT {}").format(probes)).fetchone()
    return bool(row and row[0])


def portfolio_performance(conn: psycopg.Connection) -> pd.DataFrame:
    """The paper account's daily series, oldest first. Table: performance (scope 'portfolio')."""
    frame = read_frame(
        conn,
        """SELECT as_of, equity, cash, daily_pnl, daily_return, drawdown,
                  gross_exposure, net_exposure, commission
           FROM performance WHERE scope = %s ORDER BY as_of""",
        ("portfolio",),
    )
    return _typed(frame, ["as_of"], ["equity", "cash", "daily_pnl", "daily_return", "drawdown",
                                     "gross_exposure", "net_exposure", "commission"])


def latest_positions(conn: psycopg.Connection) -> pd.DataFrame:
    """Positions on the latest snapshot date, largest |market value| first.

    Tables: positions, instruments, performance. The snapshot date is the later of the last
    positions date and the last portfolio performance date, so a portfolio that went flat
    shows no positions rather than stale ones.
    """
    frame = read_frame(
        conn,
        """WITH latest AS (
               SELECT GREATEST((SELECT max(as_of) FROM positions),
                               (SELECT max(as_of) FROM performance WHERE scope = %s)) AS as_of)
           SELECT p.as_of, i.symbol, i.name, i.asset_class, i.currency, p.quantity,
                  p.average_cost, p.last_price, p.market_value, p.unrealized_pnl
           FROM positions p
           JOIN latest l ON p.as_of = l.as_of
           JOIN instruments i USING (instrument_id)
           ORDER BY abs(p.market_value) DESC, i.symbol""",
        ("portfolio",),
    )
    return _typed(frame, ["as_of"], ["quantity", "average_cost", "last_price", "market_value",
                                     "unrealized_pnl"])


def latest_signals(conn: psycopg.Connection) -> pd.DataFrame:
    """For each strategy and instrument, its most recent signal. Tables: signals,
    strategies, instruments."""
    frame = read_frame(
        conn,
        """SELECT DISTINCT ON (s.strategy_id, s.instrument_id)
                  st.name AS strategy, i.symbol, i.asset_class, s.as_of,
                  s.direction, s.strength, s.confidence
           FROM signals s
           JOIN strategies st USING (strategy_id)
           JOIN instruments i USING (instrument_id)
           ORDER BY s.strategy_id, s.instrument_id, s.as_of DESC""",
    )
    frame = _typed(frame, ["as_of"], ["strength", "confidence"])
    frame["direction"] = pd.to_numeric(frame["direction"]).astype(int)
    return frame.sort_values(["strategy", "symbol"], ignore_index=True)


def recent_orders(conn: psycopg.Connection, limit: int = 500) -> pd.DataFrame:
    """The latest ``limit`` orders, newest first, each with its fills summed.

    Tables: orders, instruments, trades (``fills``, ``filled_by_trades``, ``fill_vwap``,
    ``commission``, ``slippage_cost`` and ``last_fill_date`` aggregate the order's trades;
    an order without trades has 0 fills and NaN prices).
    """
    frame = read_frame(
        conn,
        """SELECT o.as_of, o.client_order_id, i.symbol, o.side, o.quantity, o.order_type,
                  o.status, o.status_date, o.filled_quantity, o.average_fill_price,
                  count(t.trade_id) AS fills,
                  coalesce(sum(t.quantity), 0) AS filled_by_trades,
                  sum(t.quantity * t.price) / nullif(sum(t.quantity), 0) AS fill_vwap,
                  coalesce(sum(t.commission), 0) AS commission,
                  coalesce(sum(t.slippage_cost), 0) AS slippage_cost,
                  max(t.trade_date) AS last_fill_date, o.broker, o.reason
           FROM orders o
           JOIN instruments i USING (instrument_id)
           LEFT JOIN trades t USING (client_order_id)
           GROUP BY o.client_order_id, i.symbol
           ORDER BY o.as_of DESC, o.client_order_id
           LIMIT %s""",
        (limit,),
    )
    frame = _typed(frame, ["as_of", "status_date", "last_fill_date"],
                   ["quantity", "filled_quantity", "average_fill_price", "filled_by_trades",
                    "fill_vwap", "commission", "slippage_cost"])
    frame["fills"] = pd.to_numeric(frame["fills"]).astype(int)
    return frame


def order_status_counts(conn: psycopg.Connection) -> pd.Series:
    """How many orders there are in each status, over every order (the Orders page lists only
    the latest ones). Table: orders."""
    rows = conn.execute("""SELECT status, count(*) FROM orders GROUP BY status
                           ORDER BY count(*) DESC, status""").fetchall()
    return pd.Series({status: int(n) for status, n in rows}, dtype="int64", name="orders")


def orders_caption(counts: pd.Series, shown: int) -> str:
    """What the Orders page's table holds: "934 orders in all: 928 filled · 3 submitted."
    and, when it lists fewer than all, "The table shows the latest 500, newest first."."""
    total = int(counts.sum())
    by_status = " · ".join(f"{n} {status}" for status, n in counts.items())
    text = f"{total} orders in all: {by_status}."
    if total > shown:
        text += f" The table shows the latest {shown}, newest first."
    return text


def recent_trades(conn: psycopg.Connection, limit: int = 500) -> pd.DataFrame:
    """The latest ``limit`` fills, newest first. Tables: trades, instruments."""
    frame = read_frame(
        conn,
        """SELECT t.trade_date, t.trade_id, t.client_order_id, i.symbol, t.side, t.quantity,
                  t.price, t.reference_price, t.price_field, t.commission, t.slippage_cost
           FROM trades t JOIN instruments i USING (instrument_id)
           ORDER BY t.trade_date DESC, t.trade_id
           LIMIT %s""",
        (limit,),
    )
    return _typed(frame, ["trade_date"], ["quantity", "price", "reference_price", "commission",
                                          "slippage_cost"])


def strategy_performance(conn: psycopg.Connection) -> pd.DataFrame:
    """Every strategy's daily series, by strategy then date; ``strategy`` is the scope
    without its ``strategy:`` prefix. Table: performance (scope 'strategy:%')."""
    frame = read_frame(
        conn,
        """SELECT substr(scope, %s) AS strategy, as_of, equity, daily_pnl, daily_return, drawdown,
                  gross_exposure, net_exposure
           FROM performance WHERE scope LIKE %s ORDER BY scope, as_of""",
        (len(STRATEGY_SCOPE_PREFIX) + 1, STRATEGY_SCOPE_PREFIX + "%"),
    )
    return _typed(frame, ["as_of"], ["equity", "daily_pnl", "daily_return", "drawdown",
                                     "gross_exposure", "net_exposure"])


def strategy_summary(conn: psycopg.Connection) -> pd.DataFrame:
    """One row per strategy: see :func:`summarise_performance`. Table: performance."""
    series = strategy_performance(conn)
    rows = [summarise_performance(group).assign(strategy=name)
            for name, group in series.groupby("strategy", sort=True)]
    columns = ["strategy", *_SUMMARY_COLUMNS]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.concat(rows, ignore_index=True)[columns]


def pipeline_runs(conn: psycopg.Connection, limit: int = 200) -> pd.DataFrame:
    """The latest ``limit`` stage runs, most recently started first; ``duration_s`` is NaN
    while a stage runs. Table: pipeline_runs."""
    frame = read_frame(
        conn,
        """SELECT run_id, stage, window_start, window_end, status, started_at, finished_at,
                  extract(epoch FROM finished_at - started_at)::double precision AS duration_s,
                  rows_written::text AS rows_written, message
           FROM pipeline_runs
           ORDER BY started_at DESC, run_id, stage
           LIMIT %s""",
        (limit,),
    )
    return _typed(frame, ["window_start", "window_end"], ["duration_s"])


def quarantine_summary(conn: psycopg.Connection) -> pd.DataFrame:
    """Quarantined rows per pipeline date, dataset and check, latest date first.
    Table: quarantine."""
    frame = read_frame(
        conn,
        """SELECT as_of, dataset, check_name, count(*) AS rows_quarantined,
                  count(DISTINCT symbol) AS symbols
           FROM quarantine
           GROUP BY as_of, dataset, check_name
           ORDER BY as_of DESC, dataset, check_name""",
    )
    frame = _typed(frame, ["as_of"])
    for column in ("rows_quarantined", "symbols"):
        frame[column] = pd.to_numeric(frame[column]).astype(int)
    return frame


def quarantine_rows(conn: psycopg.Connection, limit: int = 200) -> pd.DataFrame:
    """The latest ``limit`` quarantined rows with their reasons. Table: quarantine."""
    frame = read_frame(
        conn,
        """SELECT as_of, source_id, symbol, trade_date, check_name, reason
           FROM quarantine
           ORDER BY as_of DESC, source_id, row_number, check_name
           LIMIT %s""",
        (limit,),
    )
    return _typed(frame, ["as_of", "trade_date"])


# ---------------------------------------------------------------- pure helpers
_SUMMARY_COLUMNS = ["start", "end", "days", "final_equity", "total_return", "sharpe",
                    "max_drawdown"]


def summarise_performance(series: pd.DataFrame) -> pd.DataFrame:
    """One-row summary of a performance series (columns as_of, equity, daily_return,
    drawdown): first and last date, days, final equity, total return (compounded daily
    returns, prod(1 + r) - 1), annualised Sharpe (mean / std(ddof=1) * sqrt(252) of daily
    returns, no risk-free rate; NaN with < 2 days or zero std), both from
    :mod:`macroquant.reports.metrics`, and max drawdown (the most negative stored drawdown,
    <= 0, so it matches the drawdown chart)."""
    ordered = series.sort_values("as_of")
    if ordered.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    returns = ordered["daily_return"].astype(float)
    return pd.DataFrame([{
        "start": ordered["as_of"].iloc[0],
        "end": ordered["as_of"].iloc[-1],
        "days": len(ordered),
        "final_equity": float(ordered["equity"].iloc[-1]),
        "total_return": metrics.total_return(returns),
        "sharpe": metrics.sharpe_ratio(returns),
        "max_drawdown": float(ordered["drawdown"].min()),
    }])


def exposure_by_asset_class(positions: pd.DataFrame) -> pd.DataFrame:
    """Net (signed) and gross (absolute) market value per asset class, largest gross first."""
    if positions.empty:
        return pd.DataFrame(columns=["asset_class", "net", "gross", "positions"])
    values = positions.assign(gross=positions["market_value"].abs())
    grouped = values.groupby("asset_class", as_index=False).agg(
        net=("market_value", "sum"), gross=("gross", "sum"), positions=("symbol", "count"))
    return grouped.sort_values(["gross", "asset_class"], ascending=[False, True],
                               ignore_index=True)


# A run's overall status: the first of these any of its stages has, else 'success'.
RUN_STATUS_ORDER = ("failed", "interrupted", "running", "degraded")


def last_run(runs: pd.DataFrame) -> dict[str, object] | None:
    """The most recently started run in a :func:`pipeline_runs` frame: its id, window,
    overall status ('failed' if any stage failed, else 'interrupted' if any was, else
    'running' if any runs, else 'degraded' if a stage left something undone, else
    'success') and stage count; None without runs."""
    if runs.empty:
        return None
    latest = runs.sort_values("started_at", ascending=False).iloc[0]["run_id"]
    stages = runs[runs["run_id"] == latest]
    statuses = set(stages["status"])
    status = next((s for s in RUN_STATUS_ORDER if s in statuses), "success")
    return {"run_id": latest, "status": status, "stages": len(stages),
            "window_start": stages["window_start"].min(), "window_end": stages["window_end"].max()}


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a :func:`pipeline_runs` frame, latest first: its id, overall
    status (as :func:`last_run`), window, stage count, first start, seconds from the first
    start to the last finish (NaN while a stage runs) and the failed stages' messages."""
    columns = ["run_id", "status", "window_start", "window_end", "stages", "started_at",
               "duration_s", "message"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for run_id, stages in runs.groupby("run_id", sort=False):
        statuses = set(stages["status"])
        status = next((s for s in RUN_STATUS_ORDER if s in statuses), "success")
        failed = stages[stages["status"].isin(["failed", "interrupted", "degraded"])]
        finished = stages["finished_at"]
        seconds = (float("nan") if finished.isna().any() else
                   (finished.max() - stages["started_at"].min()).total_seconds())
        rows.append({"run_id": run_id, "status": status,
                     "window_start": stages["window_start"].min(),
                     "window_end": stages["window_end"].max(), "stages": len(stages),
                     "started_at": stages["started_at"].min(), "duration_s": seconds,
                     "message": "; ".join(f"{stage}: {message}" for stage, message in
                                          zip(failed["stage"], failed["message"], strict=True))})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("started_at", ascending=False, ignore_index=True)


# ---------------------------------------------------------------- risk, health, strategies
def risk_state(conn: psycopg.Connection) -> dict[str, object] | None:
    """The kill switch's state, who set it, when and why (None on a schema without it).
    Table: kill_switch, read by :func:`macroquant.risk.kill_switch.status`."""
    from macroquant.risk.kill_switch import status

    exists = conn.execute("SELECT to_regclass('kill_switch') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    current = status(conn)
    return {"state": current.state.value, "since": current.since, "actor": current.actor,
            "reason": current.reason}


def source_freshness(conn: psycopg.Connection) -> pd.DataFrame:
    """Per enabled data source: what it holds (instruments or economic series), its latest
    bar or latest vintage (``realtime_start``), when rows last arrived, and its latest
    quarantine date. Tables: data_sources, instruments, market_data, economic_series,
    economic_indicators, quarantine."""
    frame = read_frame(
        conn,
        """SELECT s.source_id, s.kind, s.adapter,
                  (SELECT count(*) FROM instruments i WHERE i.source_id = s.source_id)
                      AS instruments,
                  (SELECT count(*) FROM economic_series e WHERE e.source_id = s.source_id)
                      AS series,
                  (SELECT max(m.trade_date) FROM market_data m
                   JOIN instruments i USING (instrument_id) WHERE i.source_id = s.source_id)
                      AS last_bar,
                  (SELECT max(e.realtime_start) FROM economic_indicators e
                   WHERE e.source_id = s.source_id) AS last_vintage,
                  greatest((SELECT max(m.loaded_at) FROM market_data m
                            JOIN instruments i USING (instrument_id)
                            WHERE i.source_id = s.source_id),
                           (SELECT max(e.loaded_at) FROM economic_indicators e
                            WHERE e.source_id = s.source_id)) AS last_loaded,
                  (SELECT max(q.as_of) FROM quarantine q WHERE q.source_id = s.source_id)
                      AS last_quarantine
           FROM data_sources s
           WHERE s.enabled AND s.kind <> 'broker'
           ORDER BY s.source_id""",
    )
    frame = _typed(frame, ["last_bar", "last_vintage", "last_quarantine"])
    for column in ("instruments", "series"):
        frame[column] = pd.to_numeric(frame[column]).astype(int)
    return frame


def failed_checks(conn: psycopg.Connection, limit: int = 200) -> pd.DataFrame:
    """The latest failed data checks. Table: data_checks."""
    frame = read_frame(
        conn,
        """SELECT as_of, dataset, check_name, rows_checked, rows_failed FROM data_checks
           WHERE NOT passed ORDER BY as_of DESC, dataset, check_name LIMIT %s""",
        (limit,),
    )
    return _typed(frame, ["as_of"])


def quality_flags(conn: psycopg.Connection, limit: int = 200) -> pd.DataFrame:
    """The latest data-quality warnings (spikes, gaps, stale instruments): rows that were
    published but deserve a look. Table: data_quality_flags."""
    exists = conn.execute("SELECT to_regclass('data_quality_flags') IS NOT NULL").fetchone()[0]
    if not exists:
        return pd.DataFrame()
    frame = read_frame(
        conn,
        """SELECT as_of, check_name, symbol, trade_date, observed, threshold, reason
           FROM data_quality_flags ORDER BY as_of DESC, check_name, symbol LIMIT %s""",
        (limit,),
    )
    return _typed(frame, ["as_of", "trade_date"], ["observed", "threshold"])


def strategy_returns(series: pd.DataFrame) -> pd.DataFrame:
    """Wide daily returns (dates × strategy) from :func:`strategy_performance` rows."""
    if series.empty:
        return pd.DataFrame()
    return series.pivot(index="as_of", columns="strategy", values="daily_return").astype(float)


def rolling_sharpe(returns: pd.DataFrame, window: int = 63) -> pd.DataFrame:
    """Annualised Sharpe over a trailing ``window`` of daily returns per column, as the
    strategy monitor computes it (:func:`macroquant.strategies.monitoring.rolling_statistics`:
    rf 0, sample std, NaN until a full window or where the window has no variance)."""
    from macroquant.strategies.monitoring import rolling_statistics

    return returns.apply(lambda column: rolling_statistics(column, window)["rolling_sharpe"])


def airflow_run_link(run_id: str, base_url: str) -> str | None:
    """The Airflow UI page of a pipeline run started by Airflow (MacroQuant's run id is
    ``<dag_id>__<airflow run id>``); None for runs started from the CLI."""
    dag_id, separator, airflow_run = run_id.partition("__")
    if not separator or not dag_id.startswith("macroquant_"):
        return None
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(airflow_run, safe='')}"


def divergence_totals(conn: psycopg.Connection) -> pd.DataFrame:
    """Per account and cause: the divergence monitor's total and the sessions it covers,
    and the daily total per account (for the chart). Table: divergence."""
    return read_frame(conn, """SELECT as_of, broker, cause, amount, orders FROM divergence
                               ORDER BY as_of, broker, cause""")
