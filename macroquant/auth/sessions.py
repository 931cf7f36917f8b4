"""Login sessions as opaque bearer tokens.

A token is 32 random bytes (``secrets.token_urlsafe``); the database keeps only its SHA-256,
so a copy of ``api_sessions`` cannot be used to log in. SHA-256 (not Argon2) is enough here
because the token has 256 bits of entropy: there is nothing to guess.

Why not a signed JWT: every request already reads the user's role and disabled flag from
PostgreSQL (a role change or a disabled account must take effect at once), so a
self-contained token would save nothing, and revoking it (logout, disable, password change)
would need this table anyway; opaque tokens also need no signing key to manage and rotate.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import psycopg

from macroquant.auth.errors import AuthenticationError
from macroquant.auth.roles import Role
from macroquant.auth.users import User

DEFAULT_SESSION_TTL = timedelta(hours=12)
TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """The SHA-256 hex digest stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_session(conn: psycopg.Connection, user: User, *, at: datetime,
                  ttl: timedelta = DEFAULT_SESSION_TTL, client: str = "") -> tuple[str, datetime]:
    """Create a session for ``user``; return (token, expires_at). The token is shown once."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = at + ttl
    conn.execute(
        """INSERT INTO api_sessions (token_sha256, user_id, created_at, expires_at, client)
           VALUES (%s, %s, %s, %s, %s)""",
        (token_digest(token), user.user_id, at, expires_at, client),
    )
    return token, expires_at


def resolve_session(conn: psycopg.Connection, token: str, *, at: datetime) -> User:
    """The user a token belongs to, read fresh (role, disabled) from ``users``.

    An unknown, revoked or expired token, or one of a disabled user, raises
    :class:`AuthenticationError` (one message for all: nothing to learn from it).
    """
    row = conn.execute(
        """SELECT u.user_id, u.username, u.role, u.disabled
           FROM api_sessions s JOIN users u USING (user_id)
           WHERE s.token_sha256 = %s AND s.revoked_at IS NULL AND s.expires_at > %s
             AND s.created_at <= %s""",
        (token_digest(token), at, at),
    ).fetchone()
    if row is None or row[3]:
        raise AuthenticationError("invalid or expired session token; log in again")
    return User(user_id=row[0], username=row[1], role=Role(row[2]), disabled=row[3])


def revoke_session(conn: psycopg.Connection, token: str, *, at: datetime) -> bool:
    """Revoke one token (logout); return whether a live session was revoked."""
    return conn.execute(
        "UPDATE api_sessions SET revoked_at = %s WHERE token_sha256 = %s AND revoked_at IS NULL",
        (at, token_digest(token)),
    ).rowcount > 0


def purge_expired(conn: psycopg.Connection, *, before: datetime) -> int:
    """Delete sessions that expired or were revoked before ``before``; return how many."""
    return conn.execute(
        "DELETE FROM api_sessions WHERE expires_at < %s OR revoked_at < %s", (before, before)
    ).rowcount
