"""Logging in: password check, the failed-login rate limit, a session, and audit rows.

The rate limit is **persisted** in ``login_attempts`` (so it holds across the API's workers,
the dashboard and restarts):

- per username: after ``max_failures_per_user`` failed logins since the user's last
  successful login and within ``window``, further attempts for that username are refused
  without checking the password until the oldest of those failures leaves the window;
- per client address: the same with ``max_failures_per_client`` failures from one client
  (any usernames) within ``window``; a success does not reset it.

Refused-because-limited attempts are audited but not counted as failures, so the lock ends
``window`` after the last real failure instead of being extended forever by an attacker.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from macroquant.auth import audit
from macroquant.auth.errors import AuthenticationError, LoginRateLimitedError
from macroquant.auth.passwords import hash_password, needs_rehash, verify_password
from macroquant.auth.sessions import DEFAULT_SESSION_TTL, issue_session
from macroquant.auth.users import User, is_valid_username, password_hash_of
from macroquant.db.connection import transaction

INVALID_USERNAME = "<invalid>"
REFUSED = "wrong username or password"


class LoginLimits(BaseModel):
    """Failed-login limits (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_failures_per_user: int = Field(5, ge=1)
    max_failures_per_client: int = Field(20, ge=1)
    window: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = DEFAULT_SESSION_TTL


class LoginResult(BaseModel):
    """A successful login: the bearer token (shown once) and whose it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    expires_at: datetime
    user: User


def _locked_until(conn: psycopg.Connection, column: str, value: str, limit: int,
                  since: datetime) -> datetime | None:
    """When the ``limit``-th newest failure since ``since`` leaves the window, or None when
    there are fewer than ``limit`` failures."""
    query = ("SELECT attempted_at FROM login_attempts WHERE username = %s AND NOT succeeded "
             "AND attempted_at > %s ORDER BY attempted_at DESC OFFSET %s LIMIT 1")
    if column == "client":
        query = query.replace("username = %s", "client = %s")
    row = conn.execute(query, (value, since, limit - 1)).fetchone()
    return row[0] if row else None


def rate_limit_state(conn: psycopg.Connection, username: str, client: str, *, at: datetime,
                     limits: LoginLimits) -> int:
    """Seconds until a login for ``username`` from ``client`` is allowed again (0: now)."""
    start = at - limits.window
    last_success = conn.execute(
        "SELECT max(attempted_at) FROM login_attempts WHERE username = %s AND succeeded",
        (username,)).fetchone()[0]
    user_since = max(start, last_success) if last_success else start
    waits = []
    for column, value, limit, since in (
            ("username", username, limits.max_failures_per_user, user_since),
            ("client", client, limits.max_failures_per_client, start)):
        oldest = _locked_until(conn, column, value, limit, since)
        if oldest is not None:
            waits.append((oldest + limits.window - at).total_seconds())
    return max(0, math.ceil(max(waits))) if waits else 0


def login(url: str, username: str, password: str, *, client: str, at: datetime,
          limits: LoginLimits | None = None) -> LoginResult:
    """Check a password and open a session; every attempt is recorded and audited.

    Raises :class:`LoginRateLimitedError` when a limit is reached (the password is not
    checked), :class:`AuthenticationError` for any wrong username/password/disabled user.
    The attempt rows are committed before the error is raised.
    """
    limits = limits or LoginLimits()
    name = username if is_valid_username(username) else INVALID_USERNAME
    error: AuthenticationError | None = None
    result: LoginResult | None = None
    with transaction(url) as conn:
        # one login at a time per username, so parallel guesses cannot overrun the limit
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('login:' || %s))", (name,))
        wait = rate_limit_state(conn, name, client, at=at, limits=limits)
        if wait > 0:
            audit.record(conn, at=at, actor=name, action="login", target=f"user:{name}",
                         outcome="denied", client=client,
                         details={"reason": "rate_limited", "retry_after_seconds": wait})
            error = LoginRateLimitedError(
                f"too many failed logins for this user or from this address; "
                f"try again in {wait} seconds", wait)
        else:
            found = password_hash_of(conn, name) if name != INVALID_USERNAME else None
            ok = verify_password(found[1] if found else None, password)
            user = found[0] if found else None
            if ok and user is not None and not user.disabled:
                if needs_rehash(found[1]):  # type: ignore[index]
                    conn.execute("UPDATE users SET password_hash = %s WHERE user_id = %s",
                                 (hash_password(password), user.user_id))
                token, expires_at = issue_session(conn, user, at=at, ttl=limits.session_ttl,
                                                  client=client)
                result = LoginResult(token=token, expires_at=expires_at, user=user)
            else:
                reason = ("disabled" if ok and user is not None else
                          "unknown_user" if user is None else "wrong_password")
                error = AuthenticationError(REFUSED)
            conn.execute(
                """INSERT INTO login_attempts (attempted_at, username, client, succeeded)
                   VALUES (%s, %s, %s, %s)""", (at, name, client, result is not None))
            audit.record(conn, at=at, actor=name, role=user.role.value if user else None,
                         action="login", target=f"user:{name}",
                         outcome="success" if result else "denied", client=client,
                         details={} if result else {"reason": reason})
    if error is not None:
        raise error
    assert result is not None
    return result
