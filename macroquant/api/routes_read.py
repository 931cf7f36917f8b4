"""Read endpoints (any logged-in role): signals, positions, performance, reports,
strategies, pipeline runs, kill switch state."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from macroquant.api.deps import Conn, Context, Viewer
from macroquant.api.models import (
    ErrorOut,
    KillSwitchOut,
    PerformanceOut,
    PositionOut,
    ReportOut,
    RunRequestOut,
    SignalOut,
    StageRunOut,
    StrategyOut,
)
from macroquant.auth.strategy_controls import controls
from macroquant.risk import kill_switch
from macroquant.strategies.loader import load_strategies

router = APIRouter(tags=["read"], responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}})

Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows")]


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _latest(conn: Conn, table: str) -> date | None:
    # table is one of two literals chosen below, never user input
    return conn.execute(f"SELECT max(as_of) FROM {table}").fetchone()[0]  # noqa: S608


@router.get("/signals", response_model=list[SignalOut], summary="Signals of one date")
def get_signals(
    conn: Conn, user: Viewer,
    as_of: Annotated[date | None, Query(description="default: the latest date")] = None,
    strategy: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    """Each strategy's signal per instrument on ``as_of`` (strength in [-1, 1])."""
    day = as_of or _latest(conn, "signals")
    return _rows(conn.execute(
        """SELECT s.as_of, st.name AS strategy, i.symbol, s.strength, s.direction, s.confidence
           FROM signals s JOIN strategies st USING (strategy_id)
           JOIN instruments i USING (instrument_id)
           WHERE s.as_of = %s AND (%s::text IS NULL OR st.name = %s)
           ORDER BY st.name, i.symbol""", (day, strategy, strategy)))


@router.get("/positions", response_model=list[PositionOut], summary="Positions of one date")
def get_positions(
    conn: Conn, user: Viewer,
    as_of: Annotated[date | None, Query(description="default: the latest date")] = None,
) -> list[dict[str, Any]]:
    """The paper account's end-of-day positions on ``as_of``."""
    day = as_of or _latest(conn, "positions")
    return _rows(conn.execute(
        """SELECT p.as_of, i.symbol, i.asset_class, p.quantity, p.average_cost, p.last_price,
                  p.market_value, p.unrealized_pnl
           FROM positions p JOIN instruments i USING (instrument_id)
           WHERE p.as_of = %s ORDER BY i.symbol""", (day,)))


@router.get("/performance", response_model=list[PerformanceOut],
            summary="Daily equity, P&L, drawdown and exposure")
def get_performance(
    conn: Conn, user: Viewer,
    scope: Annotated[str, Query(max_length=200, description="'portfolio' or "
                                "'strategy:<name>'")] = "portfolio",
    start: date | None = None, end: date | None = None, limit: Limit = 5000,
) -> list[dict[str, Any]]:
    """One row per date of ``scope`` in ``start``..``end`` (the newest ``limit`` rows),
    oldest first."""
    return _rows(conn.execute(
        """SELECT * FROM (
               SELECT as_of, scope, equity, cash, daily_pnl, daily_return, drawdown,
                      gross_exposure, net_exposure, commission
               FROM performance
               WHERE scope = %s AND (%s::date IS NULL OR as_of >= %s)
                 AND (%s::date IS NULL OR as_of <= %s)
               ORDER BY as_of DESC LIMIT %s) newest ORDER BY as_of""",
        (scope, start, start, end, end, limit)))


@router.get("/reports", response_model=list[ReportOut], summary="Stored daily/weekly reports")
def get_reports(
    conn: Conn, user: Viewer,
    kind: Literal["daily", "weekly"] | None = None, limit: Limit = 100,
) -> list[dict[str, Any]]:
    """The newest reports with their file path and summary numbers, newest first."""
    return _rows(conn.execute(
        """SELECT report_date, kind, path, summary FROM reports
           WHERE (%s::text IS NULL OR kind = %s)
           ORDER BY report_date DESC, kind LIMIT %s""", (kind, kind, limit)))


def known_strategies(conn: Conn, ctx: Context) -> dict[str, dict[str, Any]]:
    """Strategies by name: those the signals stage registered, plus the YAML files in the
    strategies directory not run yet (an invalid YAML file is a ConfigError naming it)."""
    found: dict[str, dict[str, Any]] = {
        r[0]: {"strategy_type": r[1], "enabled": r[2]}
        for r in conn.execute("SELECT name, strategy_type, enabled FROM strategies").fetchall()}
    if ctx.settings.strategies_dir.is_dir():
        for item in load_strategies(ctx.settings.strategies_dir):
            found.setdefault(item.config.name, {"strategy_type": item.config.type,
                                                "enabled": None})
    return found


@router.get("/strategies", response_model=list[StrategyOut],
            summary="Strategies with their pause flags")
def get_strategies(conn: Conn, ctx: Context, user: Viewer) -> list[StrategyOut]:
    flags = controls(conn)
    known = known_strategies(conn, ctx)
    out = []
    for name in sorted(set(known) | set(flags)):
        info, flag = known.get(name, {}), flags.get(name)
        out.append(StrategyOut(
            name=name, strategy_type=info.get("strategy_type"), enabled=info.get("enabled"),
            paused=bool(flag and flag.paused), pause_reason=flag.reason if flag else "",
            changed_by=flag.changed_by if flag else None,
            changed_at=flag.changed_at if flag else None))
    return out


@router.get("/runs", response_model=list[StageRunOut], summary="Recent pipeline stage runs")
def get_runs(conn: Conn, user: Viewer, limit: Limit = 100) -> list[dict[str, Any]]:
    """Stage runs from ``pipeline_runs``, newest first."""
    return _rows(conn.execute(
        """SELECT run_id, stage, window_start, window_end, status, started_at, finished_at,
                  message FROM pipeline_runs ORDER BY started_at DESC, run_id, stage LIMIT %s""",
        (limit,)))


@router.get("/runs/requests", response_model=list[RunRequestOut],
            summary="Runs requested through the API")
def get_run_requests(conn: Conn, user: Viewer, limit: Limit = 100) -> list[dict[str, Any]]:
    return _rows(conn.execute(
        """SELECT request_id, requested_by, requested_at, window_start, window_end, run_id,
                  status, finished_at, message
           FROM run_requests ORDER BY request_id DESC LIMIT %s""", (limit,)))


@router.get("/kill-switch", response_model=KillSwitchOut, summary="The kill switch state")
def get_kill_switch(conn: Conn, user: Viewer) -> KillSwitchOut:
    current = kill_switch.status(conn)
    return KillSwitchOut(state=current.state.value, since=current.since, actor=current.actor,
                         reason=current.reason)
