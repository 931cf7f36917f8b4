"""Operate endpoints, gated by role: pause/unpause a strategy and trigger a run (trader),
halt or reduce with the kill switch (trader), resume after it (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Request, status

from macroquant.api.deps import Conn, Context, client_of, require
from macroquant.api.models import (
    ErrorOut,
    KillSwitchOut,
    PauseIn,
    ReasonIn,
    RunRequestIn,
    RunRequestOut,
    StrategyOut,
)
from macroquant.api.routes_read import known_strategies
from macroquant.api.runs import RunBusyError, create_request
from macroquant.auth import audit
from macroquant.auth.roles import Action
from macroquant.auth.strategy_controls import set_paused
from macroquant.auth.users import User
from macroquant.risk import kill_switch

router = APIRouter(tags=["operate"], responses={401: {"model": ErrorOut},
                                                 403: {"model": ErrorOut}})

Trader = Annotated[User, Depends(require(Action.STRATEGY_PAUSE))]
Runner = Annotated[User, Depends(require(Action.RUN_TRIGGER))]
Halter = Annotated[User, Depends(require(Action.KILLSWITCH_HALT))]
Resumer = Annotated[User, Depends(require(Action.KILLSWITCH_RESUME))]
StrategyName = Annotated[str, Path(max_length=200)]


def _pause(conn: Conn, ctx: Context, request: Request, user: User, name: str, paused: bool,
           reason: str) -> StrategyOut:
    known = known_strategies(conn, ctx)
    if name not in known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no strategy named '{name}' (neither "
                            f"run yet nor in {ctx.settings.strategies_dir})")
    flag = set_paused(conn, name, paused, actor=user.username, role=user.role.value,
                      at=ctx.clock(), reason=reason, client=client_of(request))
    return StrategyOut(name=name, strategy_type=known[name]["strategy_type"],
                       enabled=known[name]["enabled"], paused=flag.paused,
                       pause_reason=flag.reason, changed_by=flag.changed_by,
                       changed_at=flag.changed_at)


@router.post("/strategies/{name}/pause", response_model=StrategyOut,
             summary="Pause a strategy (trader)", responses={404: {"model": ErrorOut}})
def pause_strategy(name: StrategyName, body: PauseIn, request: Request, ctx: Context,
                   conn: Conn, user: Trader) -> StrategyOut:
    """The signals stage writes no new signals for a paused strategy until it is unpaused."""
    return _pause(conn, ctx, request, user, name, True, body.reason)


@router.post("/strategies/{name}/unpause", response_model=StrategyOut,
             summary="Unpause a strategy (trader)", responses={404: {"model": ErrorOut}})
def unpause_strategy(name: StrategyName, body: PauseIn, request: Request, ctx: Context,
                     conn: Conn, user: Trader) -> StrategyOut:
    return _pause(conn, ctx, request, user, name, False, body.reason)


@router.post("/runs", response_model=RunRequestOut, status_code=202,
             summary="Trigger a pipeline run (trader)",
             responses={409: {"model": ErrorOut, "description": "a run is queued or running"}})
def trigger_run(body: RunRequestIn, request: Request, background: BackgroundTasks,
                ctx: Context, conn: Conn, user: Runner) -> dict[str, Any]:
    """Queues a run of all stages over the window; it runs after this response (see
    GET /runs/requests for its outcome)."""
    at = ctx.clock()
    try:
        request_id = create_request(conn, start=body.start, end=body.end,
                                    actor=user.username, at=at)
    except RunBusyError as exc:
        audit.record_committed(ctx.url, at=at, actor=user.username, role=user.role.value,
                               action=Action.RUN_TRIGGER.value, target="pipeline",
                               outcome="failed", client=client_of(request),
                               details={"reason": str(exc)})
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    row = conn.execute(
        """SELECT request_id, requested_by, requested_at, window_start, window_end, run_id,
                  status, finished_at, message FROM run_requests WHERE request_id = %s""",
        (request_id,)).fetchone()
    out = dict(zip(RunRequestOut.model_fields, row, strict=True))
    audit.record(conn, at=at, actor=user.username, role=user.role.value,
                 action=Action.RUN_TRIGGER.value, target=f"run:{out['run_id']}",
                 outcome="success", client=client_of(request),
                 details={"start": str(out["window_start"]), "end": str(out["window_end"])})
    # runs after the response is sent, i.e. after this request's transaction committed
    background.add_task(ctx.run_executor, request_id)
    return out


def _kill_switch_out(current: kill_switch.KillSwitchStatus) -> KillSwitchOut:
    return KillSwitchOut(state=current.state.value, since=current.since, actor=current.actor,
                         reason=current.reason)


def _transition(conn: Conn, ctx: Context, request: Request, user: User, action: Action,
                body: ReasonIn) -> KillSwitchOut:
    at = ctx.clock()
    before = kill_switch.current_state(conn)
    if action is Action.KILLSWITCH_RESUME:
        after = kill_switch.resume(conn, actor=user.username, at=at, reason=body.reason)
    elif request.url.path.endswith("/reduce"):
        after = kill_switch.reduce(conn, reason=body.reason, actor=user.username, at=at)
    else:
        after = kill_switch.halt(conn, reason=body.reason, actor=user.username, at=at)
    audit.record(conn, at=at, actor=user.username, role=user.role.value, action=action.value,
                 target="kill_switch", outcome="success", client=client_of(request),
                 details={"from": before.value, "to": after.state.value,
                          "reason": body.reason})
    return _kill_switch_out(after)


@router.post("/kill-switch/halt", response_model=KillSwitchOut,
             summary="Halt all trading (trader)")
def halt(body: ReasonIn, request: Request, ctx: Context, conn: Conn,
         user: Halter) -> KillSwitchOut:
    """No new order passes; open orders are cancelled by the orders stage. Idempotent."""
    return _transition(conn, ctx, request, user, Action.KILLSWITCH_HALT, body)


@router.post("/kill-switch/reduce", response_model=KillSwitchOut,
             summary="Allow only position-reducing orders (trader)")
def reduce(body: ReasonIn, request: Request, ctx: Context, conn: Conn,
           user: Halter) -> KillSwitchOut:
    """Never lowers a HALTED switch."""
    return _transition(conn, ctx, request, user, Action.KILLSWITCH_HALT, body)


@router.post("/kill-switch/resume", response_model=KillSwitchOut,
             summary="Resume trading after the kill switch (admin)")
def resume(body: ReasonIn, request: Request, ctx: Context, conn: Conn,
           user: Resumer) -> KillSwitchOut:
    return _transition(conn, ctx, request, user, Action.KILLSWITCH_RESUME, body)
