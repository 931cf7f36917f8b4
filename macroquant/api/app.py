"""The FastAPI application factory."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from macroquant.api import routes_admin, routes_auth, routes_operate, routes_read
from macroquant.api.deps import ApiContext, Clock, Conn, RunExecutor
from macroquant.api.models import ErrorOut, HealthOut
from macroquant.api.runs import execute_request
from macroquant.auth.errors import AuthenticationError, UserError
from macroquant.auth.login import LoginLimits
from macroquant.config.settings import Settings
from macroquant.db.connection import database_url
from macroquant.errors import AuthorizationError, DatabaseUnavailableError, MacroQuantError
from macroquant.security.masking import mask_text

API_VERSION = "1.0"
DESCRIPTION = """\
Read MacroQuant's signals, positions, performance and reports, and operate it: pause a
strategy, trigger a pipeline run, halt or resume trading with the kill switch.

Log in with `POST /auth/login` and send the token as `Authorization: Bearer <token>`.
Roles: **viewer** reads; **trader** also pauses strategies, triggers runs and halts;
**admin** also resumes after a kill switch, changes broker credentials, manages users and
reads the audit log. Every change and every refused attempt is written to the audit log.
"""


def _wall_clock() -> datetime:
    # The API's clock: the time a request is handled (audit rows, session expiry).
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    run_executor: RunExecutor | None = None,
    login_limits: LoginLimits | None = None,
) -> FastAPI:
    """Build the API over the database ``settings`` names (the embedded server is started
    when no URL is set). ``clock`` and ``run_executor`` are injectable for tests and for
    deployments that trigger runs elsewhere (see :mod:`macroquant.api.runs`)."""
    url = database_url(settings)
    clock = clock or _wall_clock
    # /docs and /redoc load Swagger UI and ReDoc from files installed with fastapi-offline
    # (served under /static-offline-docs), not from a CDN: they work with no internet.
    app = FastAPIOffline(title="MacroQuant API", version=API_VERSION, description=DESCRIPTION,
                                responses={400: {"model": ErrorOut,
                                          "description": "refused: the message says why"},
                                    422: {"description": "invalid request"}})
    app.state.mq = ApiContext(
        settings=settings, url=url, clock=clock, login_limits=login_limits or LoginLimits(),
        run_executor=run_executor or partial(execute_request, settings, url, clock))

    def error(code: int) -> object:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse(ErrorOut(detail=mask_text(str(exc))).model_dump(),
                                status_code=code)
        return handler

    app.add_exception_handler(AuthenticationError, error(status.HTTP_401_UNAUTHORIZED))
    app.add_exception_handler(AuthorizationError, error(status.HTTP_403_FORBIDDEN))
    app.add_exception_handler(UserError, error(status.HTTP_400_BAD_REQUEST))
    app.add_exception_handler(DatabaseUnavailableError,
                              error(status.HTTP_503_SERVICE_UNAVAILABLE))
    app.add_exception_handler(MacroQuantError, error(status.HTTP_400_BAD_REQUEST))

    @app.get("/health", response_model=HealthOut, tags=["health"],
             summary="Liveness and database check (no login)",
             responses={503: {"model": ErrorOut}})
    def health(conn: Conn) -> HealthOut:
        conn.execute("SELECT 1")
        return HealthOut(status="ok", database="ok")

    for module in (routes_auth, routes_read, routes_operate, routes_admin):
        app.include_router(module.router)
    return app
