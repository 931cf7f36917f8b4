"""What every endpoint depends on: the app's context, a database transaction, the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from macroquant.auth import audit
from macroquant.auth.errors import AuthenticationError
from macroquant.auth.login import LoginLimits
from macroquant.auth.roles import REQUIRED_ROLE, Action, allows
from macroquant.auth.sessions import resolve_session
from macroquant.auth.users import User
from macroquant.config.settings import Settings
from macroquant.db.connection import transaction

Clock = Callable[[], datetime]
RunExecutor = Callable[[int], None]  # runs the run_requests row with this id


@dataclass(frozen=True)
class ApiContext:
    """Everything the endpoints share; built once by ``create_app``."""

    settings: Settings
    url: str
    clock: Clock
    login_limits: LoginLimits
    run_executor: RunExecutor


def get_context(request: Request) -> ApiContext:
    """The app's :class:`ApiContext`."""
    return request.app.state.mq


def client_of(request: Request) -> str:
    """The client address the rate limit and the audit log record."""
    return request.client.host if request.client else ""


def get_conn(ctx: Annotated[ApiContext, Depends(get_context)]) -> Iterator[psycopg.Connection]:
    """One transaction per request: committed when the endpoint returns, else rolled back."""
    with transaction(ctx.url) as conn:
        yield conn


bearer = HTTPBearer(auto_error=False, description="a token from POST /auth/login")


def current_user(
    request: Request,
    ctx: Annotated[ApiContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The logged-in caller; a missing, unknown, expired or revoked token is a 401
    (audited, with the method and path it was refused for)."""
    at = ctx.clock()
    try:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthenticationError("not logged in: send `Authorization: Bearer <token>` "
                                      "(a token from POST /auth/login)")
        with transaction(ctx.url) as conn:
            return resolve_session(conn, credentials.credentials, at=at)
    except AuthenticationError as exc:
        audit.record_committed(
            ctx.url, at=at, actor="<anonymous>", action="auth.token",
            target=f"{request.method} {request.url.path}", outcome="denied",
            client=client_of(request),
            details={"reason": "missing" if credentials is None else "invalid"})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": "Bearer"}) from None


def require(action: Action) -> Callable[..., User]:
    """A dependency that lets the request through only for a role allowed ``action``; a
    refusal is a 403 and an audit row (outcome ``denied``)."""

    def dependency(
        request: Request,
        ctx: Annotated[ApiContext, Depends(get_context)],
        user: Annotated[User, Depends(current_user)],
    ) -> User:
        if allows(user.role, action):
            return user
        audit.record_committed(
            ctx.url, at=ctx.clock(), actor=user.username, role=user.role.value,
            action=action.value, target=f"{request.method} {request.url.path}",
            outcome="denied", client=client_of(request),
            details={"required_role": REQUIRED_ROLE[action].value})
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"user '{user.username}' (role {user.role.value}) may not {action.value}: "
            f"it needs the {REQUIRED_ROLE[action].value} role")

    dependency.__name__ = f"require_{action.name.lower()}"
    return dependency


# scope="function": the transaction commits when the endpoint returns, before the response
# is sent (so a 2xx means committed) and before any background task starts.
Conn = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]
Context = Annotated[ApiContext, Depends(get_context)]
Viewer = Annotated[User, Depends(require(Action.READ))]
