"""Users: create, list, change role, disable, set password. Each change is audited.

Usernames are lower-case, 2-32 characters ``[a-z][a-z0-9_.-]*`` (the table enforces the
same pattern). The last enabled admin can be neither demoted nor disabled, so the
installation always keeps someone who can resume trading after a kill switch.
"""

from __future__ import annotations

import re
from datetime import datetime

import psycopg
from pydantic import BaseModel, ConfigDict

from macroquant.auth import audit
from macroquant.auth.errors import UserError
from macroquant.auth.passwords import hash_password
from macroquant.auth.roles import Role

USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")


class User(BaseModel):
    """A user as the rest of the system sees it (never the password hash)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: int
    username: str
    role: Role
    disabled: bool


_COLUMNS = "user_id, username, role, disabled"


def _user(row: tuple) -> User:
    return User(user_id=row[0], username=row[1], role=Role(row[2]), disabled=row[3])


def is_valid_username(username: object) -> bool:
    """Whether ``username`` is a well-formed username."""
    return isinstance(username, str) and bool(USERNAME_PATTERN.match(username))


def validate_username(username: str) -> str:
    """Return ``username`` if well formed, else raise :class:`UserError`."""
    if not is_valid_username(username):
        raise UserError(
            f"invalid username {username!r}: use 2-32 characters a-z, 0-9, '_', '.', '-', "
            "starting with a letter"
        )
    return username


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(
            f"unknown role {role!r}; roles are: {', '.join(r.value for r in Role)}"
        ) from None


def get_user(conn: psycopg.Connection, username: str) -> User | None:
    """The user named ``username``, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE username = %s",  # noqa: S608
                       (username,)).fetchone()
    return _user(row) if row else None


def require_user(conn: psycopg.Connection, username: str) -> User:
    """The user named ``username``; a missing user is a :class:`UserError`."""
    user = get_user(conn, username)
    if user is None:
        raise UserError(f"no user named '{username}'")
    return user


def password_hash_of(conn: psycopg.Connection, username: str) -> tuple[User, str] | None:
    """The user and their stored password hash (for login only), or None."""
    row = conn.execute(f"SELECT {_COLUMNS}, password_hash FROM users "  # noqa: S608
                       "WHERE username = %s", (username,)).fetchone()
    return (_user(row[:4]), row[4]) if row else None


def list_users(conn: psycopg.Connection) -> list[User]:
    """Every user, by username."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY username").fetchall()  # noqa: S608
    return [_user(r) for r in rows]


def create_user(conn: psycopg.Connection, username: str, password: str, role: Role | str, *,
                actor: str, at: datetime, client: str = "") -> User:
    """Create a user with an Argon2id password hash; an existing name is an error."""
    validate_username(username)
    role = _role(role)
    password_hash = hash_password(password)
    row = conn.execute(
        f"""INSERT INTO users (username, role, password_hash, created_at, created_by,
                               password_changed_at)
            VALUES (%s, %s, %s, %s, %s, %s)
            ON CONFLICT (username) DO NOTHING RETURNING {_COLUMNS}""",  # noqa: S608
        (username, role.value, password_hash, at, actor, at),
    ).fetchone()
    if row is None:
        raise UserError(f"a user named '{username}' already exists")
    audit.record(conn, at=at, actor=actor, action="user.create", target=f"user:{username}",
                 outcome="success", client=client, details={"role": role.value})
    return _user(row)


def _enabled_admins(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled").fetchone()[0]


def _lock_user(conn: psycopg.Connection, username: str) -> User:
    # lock every admin row too, so two concurrent demotions cannot both pass the last-admin
    # check
    conn.execute("SELECT user_id FROM users WHERE role = 'admin' FOR UPDATE")
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE username = %s "  # noqa: S608
                       "FOR UPDATE", (username,)).fetchone()
    if row is None:
        raise UserError(f"no user named '{username}'")
    return _user(row)


def set_role(conn: psycopg.Connection, username: str, role: Role | str, *, actor: str,
             at: datetime, client: str = "") -> User:
    """Change a user's role; demoting the last enabled admin is refused."""
    role = _role(role)
    user = _lock_user(conn, username)
    if user.role is Role.ADMIN and role is not Role.ADMIN and not user.disabled \
            and _enabled_admins(conn) <= 1:
        raise UserError(f"'{username}' is the last enabled admin; make another admin first")
    conn.execute("UPDATE users SET role = %s WHERE user_id = %s", (role.value, user.user_id))
    audit.record(conn, at=at, actor=actor, action="user.set_role", target=f"user:{username}",
                 outcome="success", client=client,
                 details={"from": user.role.value, "to": role.value})
    return user.model_copy(update={"role": role})


def set_disabled(conn: psycopg.Connection, username: str, disabled: bool, *, actor: str,
                 at: datetime, client: str = "") -> User:
    """Disable (or re-enable) a user; disabling revokes their sessions at once. Disabling
    the last enabled admin is refused."""
    user = _lock_user(conn, username)
    if disabled and user.role is Role.ADMIN and not user.disabled and _enabled_admins(conn) <= 1:
        raise UserError(f"'{username}' is the last enabled admin; make another admin first")
    conn.execute("UPDATE users SET disabled = %s WHERE user_id = %s", (disabled, user.user_id))
    if disabled:
        conn.execute("UPDATE api_sessions SET revoked_at = %s "
                     "WHERE user_id = %s AND revoked_at IS NULL", (at, user.user_id))
    audit.record(conn, at=at, actor=actor, action="user.disable" if disabled else "user.enable",
                 target=f"user:{username}", outcome="success", client=client)
    return user.model_copy(update={"disabled": disabled})


def set_password(conn: psycopg.Connection, username: str, password: str, *, actor: str,
                 at: datetime, client: str = "") -> None:
    """Replace a user's password; their existing sessions are revoked."""
    password_hash = hash_password(password)
    user = require_user(conn, username)
    conn.execute("UPDATE users SET password_hash = %s, password_changed_at = %s "
                 "WHERE user_id = %s", (password_hash, at, user.user_id))
    conn.execute("UPDATE api_sessions SET revoked_at = %s "
                 "WHERE user_id = %s AND revoked_at IS NULL", (at, user.user_id))
    audit.record(conn, at=at, actor=actor, action="user.set_password",
                 target=f"user:{username}", outcome="success", client=client)
