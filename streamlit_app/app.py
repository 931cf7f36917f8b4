"""MacroQuant dashboard: portfolio, positions, signals, orders, strategies and operations.

Reads MacroQuant's PostgreSQL (``MACROQUANT_DATABASE_URL``, else the embedded server) over a
read-only session and never writes. Start it with ``make dashboard``. The queries live in
:mod:`macroquant.reports.dashboard_data` (the strategy book's in :mod:`macroquant.pipeline.book`,
the liveness of running stages in :mod:`macroquant.pipeline.liveness`); this file only lays
out, formats and plots.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import psycopg
import streamlit as st
from plotly.subplots import make_subplots
from streamlit.delta_generator import DeltaGenerator

from macroquant.airflow_local import airflow_ui_url
from macroquant.auth.dashboard_login import require_login
from macroquant.config.settings import Settings, load_settings
from macroquant.db.connection import connect, database_url, mask_password
from macroquant.errors import DatabaseUnavailableError
from macroquant.reports import dashboard_data as dd

EMPTY_MESSAGE = (
    "The database holds no pipeline results yet. Run `make demo` to load the bundled "
    "history and trade it through the daily pipeline, then reload this page."
)
UNMIGRATED_MESSAGE = (
    "This database has no MacroQuant tables. Run `make demo` (or `macroquant db migrate` "
    "followed by a pipeline run), then reload this page."
)
MONEY, PCT, NUM = (st.column_config.NumberColumn(format=f) for f in ("dollar", "percent", "localized"))
POSITION_COLUMNS = ["symbol", "market_value", "unrealized_pnl", "quantity", "last_price",
                    "average_cost", "asset_class"]
ORDER_COLUMNS = ["as_of", "symbol", "side", "quantity", "status", "filled_quantity",
                 "fill_vwap", "commission", "slippage_cost"]
FILL_COLUMNS = ["trade_date", "symbol", "side", "quantity", "price", "reference_price",
                "commission", "slippage_cost"]
RUN_COLUMNS = ["started_at", "status", "window_start", "window_end", "stages", "duration_s",
               "airflow"]
FRESHNESS_COLUMNS = ["source_id", "kind", "last_bar", "last_vintage", "last_loaded",
                     "instruments", "series"]
FLAG_COLUMNS = ["trade_date", "symbol", "check_name", "observed", "threshold"]
RECENT_ROWS = 500  # orders and fills the Orders page lists
PAGES = {"overview": "Overview", "strategies": "Strategies",
         "positions": "Positions & exposure", "signals": "Signals",
         "orders": "Orders & fills", "divergence": "Divergence", "data": "Data health",
         "runs": "Pipeline runs"}
ROLLING_SHARPE_DAYS = 63
MISSING = "—"  # what an empty cell shows (Streamlit's default is the word "None")
STATUS_COLOR = {"success": "green", "failed": "red", "running": "orange",
                "interrupted": "red", "degraded": "orange"}


# ---------------------------------------------------------------- formatting
def money(value: float, signed: bool = False) -> str:
    """``$1,234,568`` (whole dollars); with ``signed``, ``+$1,234`` / ``-$1,234``."""
    if value is None or not math.isfinite(value):
        return "—"
    sign = "-" if value < 0 else ("+" if signed else "")
    return f"{sign}${abs(value):,.0f}"


def pct(value: float, signed: bool = True) -> str:
    """``+1.23%`` from 0.0123."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.2%}" if signed else f"{value:.2%}"


def table(frame: pd.DataFrame, config: dict[str, Any] | None = None,
          container: DeltaGenerator | None = None, order: list[str] | None = None) -> None:
    """A read-only table with readable headers ("market_value" -> "Market value"), dates
    without times, and the given per-column formats."""
    columns: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        column = dict((config or {}).get(name) or {})
        if not column and pd.api.types.is_datetime64_any_dtype(frame[name]):
            timed = getattr(frame[name].dt, "tz", None) is not None
            column = (st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss") if timed
                      else st.column_config.DateColumn())
        column["label"] = column.get("label") or name.replace("_", " ").capitalize()
        columns[name] = column
    target = st if container is None else container
    target.dataframe(frame, hide_index=True, column_config=columns, column_order=order,
                     placeholder=MISSING)


def narrow_margins() -> None:
    """Side margins of 1.5 rem instead of Streamlit's 5: at 1000 px wide with the sidebar
    open that is 112 px more for the tables (the browser test checks they fit)."""
    st.html("<style>[data-testid='stMainBlockContainer'] "
            "{padding-left: 1.5rem; padding-right: 1.5rem;}</style>")


# ---------------------------------------------------------------- connection
def _alive(conn: psycopg.Connection) -> bool:
    """Validate a cached connection before reuse (the server may have restarted)."""
    if conn.closed or conn.broken:
        return False
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


@st.cache_resource(show_spinner="Starting the embedded PostgreSQL…")
def _embedded_url(pgdata: str, _settings: Settings) -> str:
    """The embedded server's URL, resolved once per data directory."""
    return database_url(_settings)


@st.cache_resource(show_spinner=False, validate=_alive, on_release=lambda conn: conn.close())
def _connection(url: str) -> psycopg.Connection:
    """One read-only, autocommit connection per database URL, shared by all sessions."""
    conn = connect(url)
    conn.autocommit = True
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SET statement_timeout = '30s'")
    return conn


# ---------------------------------------------------------------- sections
def header(perf: pd.DataFrame, runs: pd.DataFrame) -> None:
    """Headline metrics: equity, today's P&L, total return, max drawdown, last run."""
    cols = st.columns(5)
    if perf.empty:
        for col, label in zip(cols[:4], ("Equity", "Today's P&L", "Total return",
                                         "Max drawdown"), strict=True):
            col.metric(label, "—")
    else:
        last = perf.iloc[-1]
        summary = dd.summarise_performance(perf).iloc[0]
        cols[0].metric("Equity", money(last["equity"]), help=f"as of {last['as_of']:%Y-%m-%d}")
        cols[1].metric("Today's P&L", money(last["daily_pnl"], signed=True),
                       delta=pct(last["daily_return"]), help=f"on {last['as_of']:%Y-%m-%d}")
        cols[2].metric("Total return", pct(summary["total_return"]),
                       help=f"compounded since {summary['start']:%Y-%m-%d}")
        cols[3].metric("Max drawdown", pct(summary["max_drawdown"]),
                       delta=f"now {pct(last['drawdown'])}", delta_color="gray",
                       delta_arrow="off")
    run = dd.last_run(runs)
    if run is None:
        cols[4].metric("Last run", "—")
        return
    cols[4].metric("Last run", str(run["status"]).capitalize(),
                   delta=f"through {run['window_end']:%Y-%m-%d}",
                   delta_color=STATUS_COLOR[str(run["status"])], delta_arrow="off",
                   help=f"run {run['run_id']}, {run['stages']} stages")
    failed = runs[(runs["run_id"] == run["run_id"]) & (runs["status"] == "failed")]
    for _, row in failed.iterrows():
        st.error(f"Last run failed at stage **{row['stage']}**: {row['message']}")
    degraded = runs[(runs["run_id"] == run["run_id"]) & (runs["status"] == "degraded")]
    for _, row in degraded.iterrows():
        st.warning(f"Last run is degraded at stage **{row['stage']}** (something was not "
                   f"done): {row['message']}")
    stopped = runs[(runs["run_id"] == run["run_id"]) & (runs["status"] == "interrupted")]
    for _, row in stopped.iterrows():
        st.error(f"Last run was interrupted at stage **{row['stage']}**: {row['message']}")


def runs_with_liveness(conn: psycopg.Connection) -> pd.DataFrame:
    """:func:`dd.pipeline_runs`, a ``running`` row whose process is gone shown as
    ``interrupted`` (the next run or `macroquant status` records it so)."""
    from macroquant.pipeline.liveness import dead_running_stages

    runs = dd.pipeline_runs(conn)
    dead = dead_running_stages(conn)
    if dead:
        gone = [(r, s) in dead for r, s in zip(runs["run_id"], runs["stage"], strict=True)]
        runs.loc[gone, "status"] = "interrupted"
        runs.loc[gone, "message"] = ("interrupted: its process ended while this stage ran; "
                                     "rerun the window to resume")
    return runs


def book_section(conn: psycopg.Connection) -> None:
    """The strategy book: retired strategies still holding positions and the latest
    changes (added, changed with the parameter diff, retired) the runs recorded."""
    from macroquant.pipeline.book import held_retired, recent_changes

    st.subheader("Strategy book changes")
    for name, on, reason in held_retired(conn):
        st.warning(f"**{name}** was retired on {on} and its positions are held: {reason}")
    changes = recent_changes(conn, limit=50)
    if changes.empty:
        st.caption("No change recorded: the strategy files match the book.")
        return
    st.caption("What each run found changed in the strategy folder (newest first).")
    table(changes, {"window_start": st.column_config.DateColumn("From"),
                    "window_end": st.column_config.DateColumn("To"),
                    "strategy_name": st.column_config.TextColumn("Strategy"),
                    "summary": st.column_config.TextColumn("What changed", width="large")})


def overview_tab(perf: pd.DataFrame) -> None:
    """Equity curve over drawdown."""
    if perf.empty:
        st.info("No portfolio performance yet: the reports stage has not run.")
        return
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.05, subplot_titles=("Equity", "Drawdown"))
    fig.add_trace(go.Scatter(x=perf["as_of"], y=perf["equity"], name="Equity",
                             line={"color": "#1f77b4"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=perf["as_of"], y=perf["drawdown"], name="Drawdown",
                             fill="tozeroy", line={"color": "#d62728"}), row=2, col=1)
    fig.update_yaxes(tickformat="$,.0f", row=1, col=1)
    fig.update_yaxes(tickformat=".1%", row=2, col=1)
    fig.update_layout(height=560, showlegend=False, margin={"t": 40, "b": 20})
    st.plotly_chart(fig)
    st.caption(f"{len(perf)} trading days, {perf['as_of'].iloc[0]:%Y-%m-%d} to "
               f"{perf['as_of'].iloc[-1]:%Y-%m-%d}.")


def positions_tab(positions: pd.DataFrame) -> None:
    """Latest positions and exposure by asset class."""
    if positions.empty:
        st.info("No open positions on the latest date.")
        return
    exposure = dd.exposure_by_asset_class(positions)
    cols = st.columns(3)
    cols[0].metric("Positions", len(positions))
    cols[1].metric("Gross exposure", money(exposure["gross"].sum()))
    cols[2].metric("Net exposure", money(exposure["net"].sum(), signed=True))
    st.caption(f"As of {positions['as_of'].iloc[0]:%Y-%m-%d}")
    # full width, value and P&L next to the symbol: nothing important behind a scroll bar
    config = {"quantity": NUM, "average_cost": NUM, "last_price": NUM, "market_value": MONEY,
              "unrealized_pnl": st.column_config.NumberColumn("Unrealized P&L",
                                                              format="dollar")}
    table(positions, config, order=POSITION_COLUMNS)
    with st.expander("Every position column (instrument name, currency)"):
        table(positions, config)
    fig = go.Figure([
        go.Bar(x=exposure["asset_class"], y=exposure["gross"], name="Gross"),
        go.Bar(x=exposure["asset_class"], y=exposure["net"], name="Net"),
    ])
    fig.update_layout(title="Exposure by asset class", barmode="group", height=380,
                      yaxis={"tickformat": "$,.0f"}, margin={"b": 20})
    st.plotly_chart(fig)


def signals_tab(signals: pd.DataFrame) -> None:
    """Latest signal per strategy and instrument, as a table and a heatmap."""
    if signals.empty:
        st.info("No signals yet: the signals stage has not run.")
        return
    view = signals.assign(view=signals["direction"].map({1: "long", -1: "short", 0: "flat"}))
    table(view, {"as_of": st.column_config.DateColumn("As of"),
                 "strength": st.column_config.NumberColumn(format="%+.2f"), "confidence": PCT},
          order=["strategy", "symbol", "asset_class", "as_of", "view", "strength",
                 "confidence"])
    grid = signals.pivot_table(index="strategy", columns="symbol", values="strength")
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index),
                               zmin=-1, zmax=1, colorscale="RdBu", texttemplate="%{z:.2f}"))
    fig.update_layout(title="Signal strength (−1 short … +1 long)",
                      height=120 + 40 * len(grid), margin={"b": 20})
    st.plotly_chart(fig)


def divergence_tab(rows: pd.DataFrame) -> None:
    """Each account against the engine's fill model: totals per cause, and the cumulative
    difference over time (macroquant/reports/divergence.py)."""
    from macroquant.reports.divergence import CAUSES, divergence_summary

    if rows.empty:
        st.info("No divergence recorded yet: the reports stage writes it after orders.")
        return
    st.caption("How far each account's real fills are from the engine's fill model on the "
               "same orders (positive: the account did worse). The paper account is the "
               "model, so it must be 0; for a live broker it is its real slippage and fees.")
    totals = []
    for broker, mine in rows.groupby("broker"):
        by_cause = divergence_summary(mine)
        totals.append({"broker": broker, **by_cause.to_dict(), "total": by_cause.sum(),
                       "sessions": mine["as_of"].nunique()})
        if broker == "paper":
            if mine["amount"].abs().max() > 1e-6:
                st.error("The paper account differs from the engine's fill model: a bug "
                         "(see system_logs, logger macroquant.divergence).")
            else:
                st.success("The paper account equals the engine's fill model (0 on every "
                           "session).")
    frame = pd.DataFrame(totals)
    table(frame, {c: MONEY for c in [*CAUSES, "total"]},
          order=["broker", *CAUSES, "total", "sessions"])
    daily = rows.groupby(["as_of", "broker"])["amount"].sum().unstack("broker").cumsum()
    fig = go.Figure([go.Scatter(x=daily.index, y=daily[b], name=b) for b in daily.columns])
    fig.update_xaxes(tickformat="%Y-%m-%d")
    fig.update_layout(title="Cumulative divergence", height=320,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_yaxes(tickformat="$,.2f")
    st.plotly_chart(fig)


def orders_tab(orders: pd.DataFrame, trades: pd.DataFrame, counts: pd.Series,
               limit: int = RECENT_ROWS) -> None:
    """Recent orders with their fills, then the fills themselves; every column of both in
    expanders (the main tables keep to what fits the page)."""
    if orders.empty:
        st.info("No orders yet: the orders stage has not run.")
        return
    st.caption(dd.orders_caption(counts, len(orders)))
    config = {
        "as_of": st.column_config.DateColumn("Signal date"),
        "client_order_id": st.column_config.TextColumn("Order id"),
        "last_fill_date": st.column_config.DateColumn("Last fill"),
        "quantity": NUM, "filled_quantity": st.column_config.NumberColumn(
            "Filled", format="localized"), "filled_by_trades": NUM,
        "average_fill_price": NUM, "fill_vwap": st.column_config.NumberColumn(
            "Fill VWAP", format="localized"), "commission": MONEY,
        "slippage_cost": st.column_config.NumberColumn("Slippage", format="dollar")}
    table(orders, config, order=ORDER_COLUMNS)
    with st.expander("Every order column (order id, fills, broker, reason)"):
        table(orders, config)
    st.subheader("Fills")
    st.caption(f"The latest {len(trades)} fills, newest first."
               if len(trades) >= limit else f"All {len(trades)} fills, newest first.")
    fill_config = {"client_order_id": st.column_config.TextColumn("Order id"),
                   "quantity": NUM, "price": NUM, "reference_price": NUM,
                   "commission": MONEY, "slippage_cost": MONEY}
    table(trades, fill_config, order=FILL_COLUMNS)
    with st.expander("Every fill column (trade id, order id, price field)"):
        table(trades, fill_config)


def strategies_tab(summary: pd.DataFrame, series: pd.DataFrame) -> None:
    """Per-strategy metrics, equity curves, rolling Sharpe and the correlation matrix."""
    if summary.empty:
        st.info("No per-strategy performance yet: the reports stage has not run.")
        return
    st.caption(f"Notional books, before netting and costs, {summary['start'].min():%Y-%m-%d} "
               f"to {summary['end'].max():%Y-%m-%d} (days: each strategy's own history).")
    table(summary, {"final_equity": MONEY, "total_return": PCT, "max_drawdown": PCT,
                    "sharpe": st.column_config.NumberColumn("Sharpe (ann.)", format="%.2f")},
          order=["strategy", "final_equity", "total_return", "sharpe", "max_drawdown", "days"])
    fig = go.Figure([go.Scatter(x=group["as_of"], y=group["equity"], name=name)
                     for name, group in series.groupby("strategy", sort=True)])
    fig.update_layout(title="Equity by strategy (notional, before netting and costs)",
                      height=420, yaxis={"tickformat": "$,.0f"})
    st.plotly_chart(fig)
    returns = dd.strategy_returns(series)
    left, right = st.columns([3, 2])
    window = ROLLING_SHARPE_DAYS
    rolling = dd.rolling_sharpe(returns, window)
    fig = go.Figure([go.Scatter(x=rolling.index, y=rolling[name], name=name)
                     for name in rolling.columns])
    fig.update_layout(title=f"Rolling Sharpe ({window} trading days, annualised)", height=380)
    left.plotly_chart(fig)
    if len(returns.columns) > 1 and len(returns) > 2:
        corr = returns.corr()
        fig = go.Figure(go.Heatmap(z=corr.to_numpy(), x=list(corr.columns), y=list(corr.index),
                                   zmin=-1, zmax=1, colorscale="RdBu", texttemplate="%{z:.2f}"))
        fig.update_layout(title="Correlation of daily returns", height=380)
        right.plotly_chart(fig)
    else:
        right.info("A correlation matrix needs two strategies with history.")


def data_health_tab(freshness: pd.DataFrame, checks: pd.DataFrame, flags: pd.DataFrame,
                    quarantine: pd.DataFrame, rows: pd.DataFrame) -> None:
    """Freshness per source, failed checks, warnings and quarantined rows."""
    st.subheader("Freshness per source")
    table(freshness, {"last_loaded": st.column_config.DatetimeColumn(
        "Last loaded", format="YYYY-MM-DD HH:mm"), "source_id": st.column_config.TextColumn(
            "Source")}, order=FRESHNESS_COLUMNS)
    st.subheader("Failed data checks")
    if checks.empty:
        st.success("Every data check passed.")
    else:
        table(checks)
    st.subheader("Warnings (published, worth a look)")
    if flags.empty:
        st.success("No spikes, gaps or stale instruments flagged.")
    else:
        st.caption(f"{len(flags)} latest flags: spikes against the recent mean absolute "
                   "move, gaps and stale instruments on the exchange calendar.")
        config = {"observed": st.column_config.NumberColumn(format="%.2f"),
                  "threshold": st.column_config.NumberColumn(format="%.2f")}
        table(flags, config, order=FLAG_COLUMNS)
        with st.expander("Every flag column (pipeline date, the reason in words)"):
            table(flags, config)
    st.subheader("Quarantine")
    if quarantine.empty:
        st.success("No rows quarantined.")
        return
    st.warning(f"{int(quarantine['rows_quarantined'].sum())} rows quarantined on "
               f"{quarantine['as_of'].nunique()} dates.")
    table(quarantine)
    with st.expander("Quarantined rows and reasons"):
        table(rows)


def runs_tab(runs: pd.DataFrame, airflow_url: str) -> None:
    """Pipeline runs, with a link to the Airflow run for runs Airflow started."""
    if runs.empty:
        st.info("No pipeline runs recorded.")
        return
    link = {"airflow": st.column_config.LinkColumn("Airflow", display_text="open run"),
            "duration_s": st.column_config.NumberColumn("Seconds", format="%.1f"),
            "started_at": st.column_config.DatetimeColumn("Started",
                                                          format="YYYY-MM-DD HH:mm")}
    per_run = dd.run_summary(runs)
    per_run = per_run.assign(airflow=per_run["run_id"].map(
        lambda run_id: dd.airflow_run_link(str(run_id), airflow_url)))
    table(per_run, link, order=RUN_COLUMNS)
    failed = per_run[per_run["status"] == "failed"]
    for _, row in failed.head(3).iterrows():
        st.error(f"Run {row['run_id']} failed: {row['message']}")
    with st.expander("Every stage of every run (run id, rows written, messages)"):
        view = runs.assign(airflow=runs["run_id"].map(
            lambda run_id: dd.airflow_run_link(str(run_id), airflow_url)))
        table(view, link)
    st.caption(f"Links open the Airflow UI at {airflow_url} (`make airflow` serves it on "
               "MACROQUANT_AIRFLOW_PORT; MACROQUANT_AIRFLOW_URL points at another Airflow).")


def kill_switch_text(state: dict[str, object]) -> str:
    """The sidebar's line: who set the kill switch, when and why; the state it is installed
    in (nobody has touched it yet) says so instead of a 1970 date and a system actor."""
    if state["actor"] == dd.KILL_SWITCH_INSTALL_ACTOR:
        return f"Kill switch **{state['state']}**: trading allowed, never halted."
    return (f"Kill switch **{state['state']}** since {state['since']:%Y-%m-%d %H:%M} "
            f"by {state['actor']}: {state['reason']}")


def risk_banner(state: dict[str, object] | None) -> None:
    """The kill switch's state (read-only here: resume is `macroquant risk resume`)."""
    if state is None:
        st.sidebar.caption("Risk state: unknown (run `macroquant db migrate`)")
        return
    text = kill_switch_text(state)
    if state["state"] == "ACTIVE":
        st.sidebar.success(text)
    elif state["state"] == "REDUCING":
        st.sidebar.warning(text)
    else:
        st.sidebar.error(text + " — only a person can resume: `macroquant risk resume`")


def choose_page() -> str:
    """The page from the URL (``?page=strategies``) or the sidebar; each page has a URL."""
    requested = st.query_params.get("page", "overview")
    current = requested if requested in PAGES else "overview"
    choice = st.sidebar.radio("Page", list(PAGES), index=list(PAGES).index(current),
                              format_func=PAGES.__getitem__)
    if choice != requested:
        st.query_params["page"] = choice
    return choice


def render(conn: psycopg.Connection, page: str) -> None:
    """One page for a reachable database."""
    if not dd.schema_present(conn):
        st.warning(UNMIGRATED_MESSAGE)
        return
    risk_banner(dd.risk_state(conn))
    if not dd.has_pipeline_output(conn):
        st.info(EMPTY_MESSAGE)
        return
    st.header(PAGES[page])
    if page == "overview":
        perf, runs = dd.portfolio_performance(conn), runs_with_liveness(conn)
        header(perf, runs)
        overview_tab(perf)
    elif page == "strategies":
        strategies_tab(dd.strategy_summary(conn), dd.strategy_performance(conn))
        book_section(conn)
    elif page == "positions":
        positions_tab(dd.latest_positions(conn))
    elif page == "signals":
        signals_tab(dd.latest_signals(conn))
    elif page == "orders":
        orders_tab(dd.recent_orders(conn, RECENT_ROWS), dd.recent_trades(conn, RECENT_ROWS),
                   dd.order_status_counts(conn))
    elif page == "divergence":
        divergence_tab(dd.divergence_totals(conn))
    elif page == "data":
        data_health_tab(dd.source_freshness(conn), dd.failed_checks(conn),
                        dd.quality_flags(conn), dd.quarantine_summary(conn),
                        dd.quarantine_rows(conn))
    elif page == "runs":
        runs_tab(runs_with_liveness(conn), airflow_ui_url())


def main() -> None:
    """Resolve the database, connect read-only and draw the page; errors stay on the page,
    shown at its top (a query can fail after part of the page was drawn)."""
    st.set_page_config(page_title="MacroQuant", page_icon="📈", layout="wide")
    narrow_margins()
    st.title("MacroQuant")
    notice = st.empty()
    page = choose_page()
    settings = load_settings()
    url = settings.database_url or ""
    try:
        url = url or _embedded_url(str(settings.pgdata_dir), settings)
        conn = _connection(url)
        login = dd.login_required(conn)
        if login:
            require_login(settings)  # stops the page until the visitor logs in
        # only for a visitor allowed to see the data: the login page names no database
        notice.caption(f"Database {mask_password(url)} · read-only")
        if not login and dd.schema_present(conn):
            st.sidebar.warning("No users yet: anyone who can reach this page can view it. "
                               "Add one with `macroquant users add NAME --role admin` to "
                               "require a login.")
        render(conn, page)
    except DatabaseUnavailableError as exc:
        notice.error(f"Database unavailable: {exc}")
    except psycopg.OperationalError as exc:
        _connection.clear(url)
        notice.error(f"Lost the connection to {mask_password(url)}: {_first_line(exc)}. "
                     "Reload the page to reconnect.")
    except psycopg.Error as exc:  # e.g. a schema older than this dashboard
        notice.error(f"A dashboard query failed ({type(exc).__name__}: {_first_line(exc)}). "
                     "If MacroQuant was upgraded, run `macroquant db migrate`, then reload.")


def _first_line(exc: Exception) -> str:
    """The first line of an error message, passwords masked."""
    text = str(exc).strip()
    return mask_password(text.splitlines()[0] if text else type(exc).__name__)


main()
