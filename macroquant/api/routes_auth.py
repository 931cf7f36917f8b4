"""Login, logout and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials

from macroquant.api.deps import Conn, Context, Viewer, bearer, client_of
from macroquant.api.models import ErrorOut, LoginIn, TokenOut, UserOut
from macroquant.auth import audit
from macroquant.auth.errors import AuthenticationError, LoginRateLimitedError
from macroquant.auth.login import login
from macroquant.auth.sessions import revoke_session

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login", response_model=TokenOut, summary="Log in with username and password",
    responses={401: {"model": ErrorOut, "description": "wrong username or password"},
               429: {"model": ErrorOut, "description": "too many failed logins; see "
                     "the Retry-After header"}},
)
def post_login(body: LoginIn, request: Request, ctx: Context) -> TokenOut:
    """Returns a bearer token valid for 12 hours. Failed logins are rate limited per username
    and per client address, and every attempt is audited."""
    try:
        result = login(ctx.url, body.username, body.password, client=client_of(request),
                       at=ctx.clock(), limits=ctx.login_limits)
    except LoginRateLimitedError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            headers={"Retry-After": str(exc.retry_after_seconds)}) from None
    except AuthenticationError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": "Bearer"}) from None
    return TokenOut(access_token=result.token, expires_at=result.expires_at,
                    username=result.user.username, role=result.user.role)


@router.post("/logout", status_code=204, summary="Revoke the token this request carries",
             responses={401: {"model": ErrorOut}})
def post_logout(
    request: Request, ctx: Context, conn: Conn, user: Viewer,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    assert credentials is not None  # Viewer already required a valid token
    revoke_session(conn, credentials.credentials, at=ctx.clock())
    audit.record(conn, at=ctx.clock(), actor=user.username, role=user.role.value,
                 action="logout", target=f"user:{user.username}", outcome="success",
                 client=client_of(request))


@router.get("/me", response_model=UserOut, summary="The logged-in user",
            responses={401: {"model": ErrorOut}})
def get_me(user: Viewer) -> UserOut:
    return UserOut(**user.model_dump())
