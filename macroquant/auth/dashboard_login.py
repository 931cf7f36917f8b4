"""Login for the dashboard: call :func:`require_login` at the top of each page.

It shows a username/password form until the visitor logs in, then returns the
:class:`~macroquant.auth.users.User`. Logins go through the same code as the API
(:func:`macroquant.auth.login.login`): Argon2 password check, the persisted failed-login rate
limit (per username and per client address), a session token (kept in
``st.session_state``, checked against ``api_sessions`` on every rerun so a disabled user or
a revoked session is logged out at once) and audit rows. The dashboard only reads; roles
matter for what the API lets a user change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from macroquant.auth.errors import AuthenticationError, LoginRateLimitedError
from macroquant.auth.login import login
from macroquant.auth.sessions import resolve_session, revoke_session
from macroquant.auth.users import User
from macroquant.config.settings import Settings
from macroquant.db.connection import database_url, transaction

TOKEN_KEY = "macroquant_session_token"


def _wall_clock() -> datetime:
    # the dashboard's clock: when the visitor acts (session expiry, audit)
    return datetime.now(UTC)


def _client() -> str:
    address = getattr(st.context, "ip_address", None)
    return f"dashboard:{address if isinstance(address, str) and address else 'unknown'}"


def require_login(settings: Settings, clock: Callable[[], datetime] = _wall_clock) -> User:
    """The logged-in user; otherwise render the login form and stop the page."""
    url = database_url(settings)
    token = st.session_state.get(TOKEN_KEY)
    if token:
        try:
            with transaction(url) as conn:
                user = resolve_session(conn, token, at=clock())
        except AuthenticationError:
            del st.session_state[TOKEN_KEY]
        else:
            with st.sidebar:
                st.caption(f"Logged in as **{user.username}** ({user.role.value})")
                if st.button("Log out"):
                    with transaction(url) as conn:
                        revoke_session(conn, token, at=clock())
                    del st.session_state[TOKEN_KEY]
                    st.rerun()
            return user

    st.title("MacroQuant — log in")
    with st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        try:
            result = login(url, username, password, client=_client(), at=clock())
        except LoginRateLimitedError as exc:
            st.error(str(exc))
        except AuthenticationError as exc:
            st.error(str(exc))
        else:
            st.session_state[TOKEN_KEY] = result.token
            st.rerun()
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the script run")
