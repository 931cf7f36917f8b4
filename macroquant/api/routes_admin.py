"""Admin endpoints: users, the audit log, and broker settings (credentials in the
encrypted secrets store)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from macroquant.api.deps import Conn, Context, client_of, require
from macroquant.api.models import (
    AuditOut,
    ErrorOut,
    SecretIn,
    SecretOut,
    UserChangeIn,
    UserCreateIn,
    UserOut,
)
from macroquant.auth import audit, users
from macroquant.auth.roles import Action
from macroquant.auth.users import User
from macroquant.security import secrets as store

router = APIRouter(tags=["admin"], responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut},
                                              403: {"model": ErrorOut}})

UserAdmin = Annotated[User, Depends(require(Action.USERS_MANAGE))]
AuditReader = Annotated[User, Depends(require(Action.AUDIT_READ))]
BrokerAdmin = Annotated[User, Depends(require(Action.BROKER_SETTINGS))]
SecretName = Annotated[str, Path(pattern=r"^[A-Z][A-Z0-9_]{1,63}$",
                                 description="e.g. ALPACA_API_KEY, IBKR_PASSWORD")]


@router.get("/users", response_model=list[UserOut], summary="All users (admin)")
def list_users(conn: Conn, user: UserAdmin) -> list[dict[str, Any]]:
    return [u.model_dump() for u in users.list_users(conn)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user (admin)",
             responses={409: {"model": ErrorOut}})
def create_user(body: UserCreateIn, request: Request, ctx: Context, conn: Conn,
                user: UserAdmin) -> dict[str, Any]:
    if users.get_user(conn, body.username) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"a user named '{body.username}' already exists")
    created = users.create_user(conn, body.username, body.password, body.role,
                                actor=user.username, at=ctx.clock(), client=client_of(request))
    return created.model_dump()


@router.patch("/users/{username}", response_model=UserOut,
              summary="Change a user's role or disable/enable them (admin)",
              responses={404: {"model": ErrorOut}})
def change_user(username: Annotated[str, Path(max_length=64)], body: UserChangeIn,
                request: Request, ctx: Context, conn: Conn, user: UserAdmin) -> dict[str, Any]:
    target = users.get_user(conn, username)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user named '{username}'")
    fields = {"actor": user.username, "at": ctx.clock(), "client": client_of(request)}
    if body.role is not None and body.role is not target.role:
        target = users.set_role(conn, username, body.role, **fields)
    if body.disabled is not None and body.disabled != target.disabled:
        target = users.set_disabled(conn, username, body.disabled, **fields)
    return target.model_dump()


@router.get("/audit", response_model=list[AuditOut], summary="The audit log (admin)")
def get_audit(
    conn: Conn, user: AuditReader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Literal["success", "denied", "failed"] | None = None,
) -> list[dict[str, Any]]:
    """Newest first."""
    return [e.model_dump() for e in audit.recent(conn, limit=limit, actor=actor, outcome=outcome)]


@router.get("/broker/credentials", response_model=list[SecretOut],
            summary="Names of stored broker/vendor credentials (admin; never values)")
def list_credentials(conn: Conn, user: BrokerAdmin) -> list[dict[str, Any]]:
    return [{k: r[k] for k in ("name", "key_fingerprint", "updated_at")}
            for r in store.list_secrets(conn)]


@router.put("/broker/credentials/{name}", status_code=204,
            summary="Set a broker/vendor credential (admin)")
def put_credential(name: SecretName, body: SecretIn, request: Request, ctx: Context,
                   conn: Conn, user: BrokerAdmin) -> None:
    """Stored Fernet-encrypted; the value is never returned, logged or audited."""
    key = store.load_key(ctx.settings)
    store.set_secret(conn, name, body.value, key=key)
    audit.record(conn, at=ctx.clock(), actor=user.username, role=user.role.value,
                 action=Action.BROKER_SETTINGS.value, target=f"credential/{name}",
                 outcome="success", client=client_of(request), details={"change": "set"})


@router.delete("/broker/credentials/{name}", status_code=204,
               summary="Delete a broker/vendor credential (admin)",
               responses={404: {"model": ErrorOut}})
def delete_credential(name: SecretName, request: Request, ctx: Context, conn: Conn,
                      user: BrokerAdmin) -> None:
    if not any(r["name"] == name for r in store.list_secrets(conn)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no secret named {name}")
    store.delete_secret(conn, name)
    audit.record(conn, at=ctx.clock(), actor=user.username, role=user.role.value,
                 action=Action.BROKER_SETTINGS.value, target=f"credential/{name}",
                 outcome="success", client=client_of(request), details={"change": "delete"})
