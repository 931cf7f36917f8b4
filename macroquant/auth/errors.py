"""Errors of logging in. (A refused *action* is :class:`macroquant.errors.AuthorizationError`.)"""

from __future__ import annotations

from macroquant.errors import MacroQuantError


class AuthenticationError(MacroQuantError):
    """A login or a session token was refused. The message never says which part was wrong
    (unknown user, wrong password, disabled account): that would help someone guessing."""


class LoginRateLimitedError(AuthenticationError):
    """Too many failed logins for this username or from this client; try again later."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class UserError(MacroQuantError):
    """A user cannot be created or changed as asked (bad name, weak password, unknown user)."""
