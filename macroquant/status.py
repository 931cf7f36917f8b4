"""What ``macroquant status`` and ``macroquant summary`` print."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import psycopg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from macroquant.airflow_local import airflow_ui_url
from macroquant.auth import strategy_controls
from macroquant.config.settings import Settings, load_trading_config
from macroquant.db.bulk import read_frame
from macroquant.db.catalog import row_counts
from macroquant.db.connection import connect, database_url, mask_password
from macroquant.reports.metrics import summary as metrics_summary
from macroquant.reports.risk_target_data import stored_volatility_budget
from macroquant.risk import kill_switch
from macroquant.risk.kill_switch import KillSwitchState


def table_counts(url: str) -> dict[str, int]:
    """Row count of every table (the demo's idempotency check reads this)."""
    with connect(url) as conn:
        return row_counts(conn)


def _frame_table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row])
    return table


def print_status(settings: Settings, console: Console) -> None:
    """Database, risk state (kill switch, instrument locks, paused strategies), row counts,
    data freshness, last runs, open orders and equity."""
    from macroquant.pipeline.runner import mark_interrupted

    url = database_url(settings)
    console.print(f"database: {mask_password(url)}", soft_wrap=True)
    mark_interrupted(url, echo=False)  # listed below by interrupted_lines
    print_risk_state(url, console)
    with connect(url) as conn:
        lines = interrupted_lines(conn) + book_lines(conn)
    for line in lines:
        console.print(line, soft_wrap=True, markup=False)
    counts = table_counts(url)
    console.print("rows: " + ", ".join(f"{t}={n}" for t, n in counts.items() if n))
    with connect(url) as conn:
        fresh = read_frame(conn, """SELECT i.source_id, count(DISTINCT i.instrument_id) AS
                                           instruments, max(m.trade_date) AS latest_bar
                                    FROM market_data m JOIN instruments i USING (instrument_id)
                                    GROUP BY i.source_id ORDER BY 1""")
        runs = read_frame(conn, """SELECT run_id, stage, window_start, window_end, status,
                                          left(message, 80) AS message
                                   FROM pipeline_runs ORDER BY started_at DESC LIMIT 10""")
        equity = conn.execute("""SELECT as_of, equity, drawdown FROM performance
                                 WHERE scope = 'portfolio' ORDER BY as_of DESC LIMIT 1""").fetchone()
        open_orders = conn.execute("""SELECT count(*) FROM orders
                                      WHERE status IN ('new', 'submitted', 'partially_filled',
                                                       'unknown')"""
                                   ).fetchone()[0]
        quarantined = dict(conn.execute("""SELECT status, count(*) FROM quarantine
                                            GROUP BY status""").fetchall())
    console.print(_frame_table("Data freshness", fresh))
    console.print(_frame_table("Last stage runs", runs))
    if equity:
        console.print(f"paper account on {equity[0]}: equity {equity[1]:,.2f}, "
                      f"drawdown {equity[2]:.2%}; open orders {open_orders}")
    decided = ", ".join(f"{quarantined[k]} {k}" for k in ("accepted", "dropped")
                        if quarantined.get(k))
    console.print(f"quarantined rows: {quarantined.get('open', 0)}"
                  + (f" (decided: {decided})" if decided else "")
                  + ("; see `macroquant quarantine list`" if quarantined.get("open") else ""))
    print_source_health(settings, console)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def risk_state_lines(conn: psycopg.Connection) -> list[str]:
    """The risk state as printed by ``macroquant status``: the kill switch (with the resume
    command when it is not ACTIVE), unresolved instrument locks and paused strategies.
    Lines carry rich markup (HALTED / REDUCING in bold red / yellow)."""
    switch = kill_switch.status(conn)
    style = {KillSwitchState.HALTED: "bold red", KillSwitchState.REDUCING: "bold yellow"}
    state = switch.state.value
    if switch.state in style:
        state = f"[{style[switch.state]}]{state}[/]"
    if switch.actor == kill_switch.INSTALL_ACTOR:   # as installed: nobody has touched it
        lines = [f"kill switch: {state} (trading allowed, never halted)"]
    else:
        lines = [f"kill switch: {state} since {_utc(switch.since)} by "
                 f"{escape(switch.actor)}: {escape(switch.reason)}"]
    if switch.state is KillSwitchState.HALTED:
        lines.append("  no order goes out and open orders are cancelled; a person re-arms "
                     "trading with: macroquant risk resume --by NAME --reason TEXT")
    elif switch.state is KillSwitchState.REDUCING:
        lines.append("  only orders that reduce a position go out; a person re-arms trading "
                     "with: macroquant risk resume --by NAME --reason TEXT")
    locks = conn.execute("""SELECT i.symbol, l.broker, l.locked_at, l.reason, l.details
                            FROM instrument_locks l JOIN instruments i USING (instrument_id)
                            WHERE l.resolved_at IS NULL ORDER BY i.symbol""").fetchall()
    if locks:
        lines.append(f"instrument locks: {len(locks)} (no orders until a person runs: "
                     "macroquant orders unlock SYMBOL --by NAME --reason TEXT)")
        for symbol, broker, locked_at, reason, details in locks:
            extra = ", ".join(f"{k} {v}" for k, v in sorted(details.items())
                              if k not in ("symbol", "kind"))
            lines.append(f"  {escape(symbol)} at {escape(broker)} since {_utc(locked_at)}: "
                         f"{escape(reason)}" + (f" ({escape(extra)})" if extra else ""))
    else:
        lines.append("instrument locks: none")
    paused = [c for c in strategy_controls.controls(conn).values() if c.paused]
    if paused:
        lines.append(f"paused strategies: {len(paused)} (their positions are held, "
                     "they trade nothing of their own)")
        lines += [f"  {escape(c.strategy_name)} by {escape(c.changed_by)} since "
                  f"{_utc(c.changed_at)}" + (f": {escape(c.reason)}" if c.reason else "")
                  for c in paused]
    else:
        lines.append("paused strategies: none")
    return lines


def interrupted_lines(conn: psycopg.Connection) -> list[str]:
    """The stages left ``interrupted`` (their process ended while they ran: killed, timed
    out or the machine restarted) that no later attempt has replaced, newest first."""
    rows = conn.execute("""SELECT run_id, stage, window_start, window_end, message
                           FROM pipeline_runs WHERE status = 'interrupted'
                           ORDER BY started_at DESC LIMIT 10""").fetchall()
    if not rows:
        return []
    lines = [f"interrupted stages: {len(rows)} (stages are idempotent: rerun the window to "
             "resume)"]
    lines += [f"  {run_id} {stage} {start}..{end}: {message}"
              for run_id, stage, start, end, message in rows]
    return lines


def book_lines(conn: psycopg.Connection) -> list[str]:
    """The strategy book: retired strategies whose positions are held, and the changes
    (added, changed, retired) the latest run that changed the book recorded."""
    from macroquant.pipeline.book import held_retired, recent_changes

    lines = []
    held = held_retired(conn)
    if held:
        lines.append(f"retired strategies holding positions: {len(held)} "
                     "(strategy_book.retired_positions: hold)")
        lines += [f"  {name} retired on {on}: {reason}" for name, on, reason in held]
    changes = recent_changes(conn, limit=200)
    if not changes.empty:
        last = changes[changes["run_id"] == changes["run_id"].iloc[0]]
        first = last.iloc[0]
        lines.append(f"strategy book, last change by run {first['run_id']} "
                     f"({first['window_start']}..{first['window_end']}):")
        lines += [f"  {row.change:<8} {row.strategy_name}  {row.summary}"
                  for row in last.iloc[::-1].itertuples()]
    return lines


def print_risk_state(url: str, console: Console) -> None:
    """Print :func:`risk_state_lines` (never wrapped, so each stays one line)."""
    with connect(url) as conn:
        lines = risk_state_lines(conn)
    for line in lines:
        console.print(line, soft_wrap=True)


def performance_rows(performance: pd.DataFrame) -> pd.DataFrame:
    """One row per book (``portfolio``, then each strategy by name): final equity, total
    return, Sharpe and max drawdown of the ``performance`` rows given."""
    rows = []
    for scope, group in performance.groupby("scope"):
        m = metrics_summary(group["daily_return"].astype(float))
        rows.append({"book": str(scope).removeprefix("strategy:"),
                     "final equity": float(group["equity"].iloc[-1]),
                     "total return": f"{m['total_return']:.2%}", "sharpe": f"{m['sharpe']:.2f}",
                     "max drawdown": f"{m['max_drawdown']:.2%}"})
    columns = ["book", "final equity", "total return", "sharpe", "max drawdown"]
    return pd.DataFrame(rows, columns=columns)


def print_summary(settings: Settings, console: Console, start: date, end: date) -> None:
    """The demo's closing summary: strategies, orders, equity, metrics, where to look."""
    url = database_url(settings)
    with connect(url) as conn:
        strategies = read_frame(conn, """SELECT name, strategy_type AS type, config->>'rule' AS rule,
                                                config->>'weight' AS weight FROM strategies
                                         WHERE enabled ORDER BY name""")
        orders = conn.execute("""SELECT count(*), count(*) FILTER (WHERE status = 'filled'),
                                        count(*) FILTER (WHERE status = 'submitted')
                                 FROM orders WHERE as_of BETWEEN %s AND %s""", (start, end)).fetchone()
        fees = conn.execute("""SELECT coalesce(sum(commission), 0), coalesce(sum(slippage_cost), 0)
                               FROM trades WHERE trade_date BETWEEN %s AND %s""",
                            (start, end)).fetchone()
        performance = read_frame(conn, """SELECT scope, as_of, equity, daily_return
                                          FROM performance WHERE as_of BETWEEN %s AND %s
                                          ORDER BY scope, as_of""", (start, end))
        report = conn.execute("""SELECT path FROM reports WHERE kind = 'daily' AND report_date = %s""",
                              (end,)).fetchone()
        budget = stored_volatility_budget(conn, load_trading_config(settings.config_path),
                                          start, end)
    console.rule(f"MacroQuant paper trading {start} → {end}")
    console.print(_frame_table("Strategies", strategies))
    books = performance_rows(performance)
    portfolio = books["book"] == "portfolio"
    # two tables, so that each header describes the rows under it
    console.print(_frame_table("Portfolio (the paper account, after costs)",
                               books[portfolio].reset_index(drop=True)))
    console.print(_frame_table("Strategy books (notional, before netting and costs)",
                               books[~portfolio].reset_index(drop=True)))
    console.print(f"orders: {orders[0]} sent, {orders[1]} filled, {orders[2]} waiting on the "
                  f"paper broker for the next open; commission {fees[0]:,.2f}, slippage {fees[1]:,.2f}")
    for line in budget.lines():
        console.print(escape(line))
    console.print(f"report:    {report[0] if report else '(none)'}")
    console.print("dashboard: make dashboard   → http://127.0.0.1:8501")
    console.print(f"airflow:   make airflow     → {airflow_ui_url()} (see README: logging in)")
    console.print("status:    .venv/bin/macroquant status")


# ---------------------------------------------------------------------------- source health
# (fetch control, macroquant.sources.fetch: which vendor delivered, which failed and why)
def print_source_health(settings: Settings, console: Console) -> None:
    """Data sources with their limits (the daily quota's latest counted day, and when a used
    up quota resets), the latest date each delivered bars for, and the last failure (time
    and message) fetch control logged for it."""
    from macroquant.sources.fetch import source_health

    with connect(database_url(settings)) as conn:
        health = source_health(conn)
    if health.empty:
        return
    health["last_error"] = health["last_error"].map(
        lambda m: m[:100] if isinstance(m, str) else "")
    columns = ["source_id", "enabled", "priority", "rate_limit_per_minute", "fallback_source_id",
               "daily_quota", "last_delivered_as_of", "last_failure", "last_error"]
    console.print(_frame_table("Source health", health[columns].fillna("")))
