"""Users, Argon2 hashing, roles, sessions, the login rate limit and the dashboard login."""

from __future__ import annotations

import argparse
import io
from datetime import timedelta

import psycopg
import pytest

from macroquant.auth.errors import AuthenticationError, LoginRateLimitedError, UserError
from macroquant.auth.login import LoginLimits, login
from macroquant.auth.passwords import hash_password, needs_rehash, verify_password
from macroquant.auth.roles import REQUIRED_ROLE, Action, Role, allows, check_allowed
from macroquant.auth.sessions import resolve_session
from macroquant.auth.users import create_user, list_users, set_disabled, set_role
from macroquant.cli_api import users_command
from macroquant.db.connection import transaction
from macroquant.errors import AuthorizationError
from tests.auth.helpers import PASSWORDS, T0, add_role_users


def test_argon2id_hashes():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")  # unknown user
    assert not verify_password("not-a-hash", "x")
    assert hash_password("correct horse battery") != stored  # salted
    assert not needs_rehash(stored)
    with pytest.raises(UserError, match="at least 12"):
        hash_password("short")


def test_role_table():
    table = {(r.value, a.value): allows(r, a) for r in Role for a in Action}
    assert sum(table.values()) == 1 + 5 + 9  # viewer reads; trader +4 operate; admin all
    assert not allows("trader", Action.KILLSWITCH_RESUME) and allows("trader",
                                                                     Action.KILLSWITCH_HALT)
    assert [a for a in Action if REQUIRED_ROLE[a] is Role.ADMIN] == [
        Action.KILLSWITCH_RESUME, Action.BROKER_SETTINGS, Action.USERS_MANAGE,
        Action.AUDIT_READ]
    with pytest.raises(AuthorizationError, match="needs the admin role"):
        check_allowed("trader", Action.BROKER_SETTINGS, "tom")


def test_users_and_the_last_admin(db_url):
    with transaction(db_url) as conn:
        add_role_users(conn)
        with pytest.raises(UserError, match="already exists"):
            create_user(conn, "ada", "another-password", "viewer", actor="t", at=T0)
    with transaction(db_url) as conn:
        for bad in ("A", "x", "Ada", "1ab", "a b"):
            with pytest.raises(UserError, match="invalid username"):
                create_user(conn, bad, "long-enough-pass", "viewer", actor="t", at=T0)
        with pytest.raises(UserError, match="unknown role"):
            create_user(conn, "bob", "long-enough-pass", "root", actor="t", at=T0)
    with transaction(db_url) as conn, pytest.raises(UserError, match="last enabled admin"):
        set_role(conn, "ada", "viewer", actor="t", at=T0)
    with transaction(db_url) as conn, pytest.raises(UserError, match="last enabled admin"):
        set_disabled(conn, "ada", True, actor="t", at=T0)
    with transaction(db_url) as conn:
        set_role(conn, "tom", "admin", actor="ada", at=T0)
        set_role(conn, "ada", "viewer", actor="tom", at=T0)  # allowed now
        assert [(u.username, u.role.value) for u in list_users(conn)] == [
            ("ada", "viewer"), ("tom", "admin"), ("vera", "viewer")]
        hashes = conn.execute("SELECT password_hash FROM users").fetchall()
        assert all(h[0].startswith("$argon2id$") for h in hashes)


def test_login_sessions_and_disable(db_url):
    with transaction(db_url) as conn:
        add_role_users(conn)
    result = login(db_url, "tom", PASSWORDS["trader"], client="10.0.0.1", at=T0)
    assert result.user.role is Role.TRADER and result.expires_at == T0 + timedelta(hours=12)
    with transaction(db_url) as conn:
        assert resolve_session(conn, result.token, at=T0).username == "tom"
        with pytest.raises(AuthenticationError):
            resolve_session(conn, result.token, at=T0 + timedelta(hours=12))
        set_disabled(conn, "tom", True, actor="ada", at=T0)
    with transaction(db_url) as conn, pytest.raises(AuthenticationError):
        resolve_session(conn, result.token, at=T0)
    # a disabled user with the right password is refused with the same message
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        login(db_url, "tom", PASSWORDS["trader"], client="10.0.0.1", at=T0)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT details->>'reason' FROM audit_log WHERE action = 'login' "
                            "ORDER BY audit_id DESC LIMIT 1").fetchone() == ("disabled",)


def test_rate_limit_per_user_resets_on_success_and_client_does_not(db_url):
    limits = LoginLimits(max_failures_per_user=2, max_failures_per_client=4,
                         window=timedelta(minutes=10))
    with transaction(db_url) as conn:
        add_role_users(conn)

    def attempt(user: str, password: str, minutes: float, client: str = "c1") -> str:
        try:
            login(db_url, user, password, client=client, at=T0 + timedelta(minutes=minutes),
                  limits=limits)
        except LoginRateLimitedError as exc:
            return f"limited {exc.retry_after_seconds}"
        except AuthenticationError:
            return "refused"
        return "ok"

    assert attempt("vera", "bad-password-1", 0) == "refused"
    assert attempt("vera", PASSWORDS["viewer"], 1) == "ok"  # resets vera's count
    assert attempt("vera", "bad-password-1", 2) == "refused"
    assert attempt("vera", "bad-password-1", 3) == "refused"
    # vera's 2 failures (2, 3 min) lock her until the older leaves the window: 2 + 10 - 4
    assert attempt("vera", PASSWORDS["viewer"], 4) == "limited 480"
    assert attempt("vera", PASSWORDS["viewer"], 4, client="c2") == "limited 480"
    assert attempt("vera", PASSWORDS["viewer"], 12.5) == "ok"  # the failure at 2 aged out
    # 4 failures from one address, each for a different username, lock the address
    for minute, name in ((13, "tom"), (13.5, "ada"), (14, "nobody"), (14.5, "ghost")):
        assert attempt(name, "bad-password-1", minute, client="c3") == "refused"
    assert attempt("tom", PASSWORDS["trader"], 15, client="c3") == "limited 480"  # 13+10-15
    assert attempt("tom", PASSWORDS["trader"], 15, client="c4") == "ok"
    with psycopg.connect(db_url) as conn:
        counts = dict(conn.execute("SELECT succeeded, count(*) FROM login_attempts "
                                   "GROUP BY succeeded").fetchall())
    assert counts == {False: 7, True: 3}  # limited attempts are not counted as failures


def test_cli_users(settings):
    def run(*argv: str, stdin: str = "") -> tuple[int, str]:
        parser = argparse.ArgumentParser()
        from macroquant.cli_api import register

        register(parser.add_subparsers(dest="command"))
        return users_command(settings, parser.parse_args(["users", *argv]),
                             stdin=io.StringIO(stdin))

    assert run("add", "root", "--role", "admin", "--stdin", stdin="root-password-1\n") == (
        0, "user root added with role admin")
    with pytest.raises(UserError, match="at least 12"):
        run("add", "eve", "--role", "viewer", "--stdin", stdin="shortpw\n")
    assert run("add", "eve", "--role", "viewer", "--stdin", stdin="eve-password-1\n")[0] == 0
    code, out = run("list")
    assert out.splitlines() == ["USERNAME  ROLE     STATUS", "eve       viewer   enabled",
                                "root      admin    enabled"]
    assert "password" not in out
    with pytest.raises(UserError, match="last enabled admin"):
        run("set-role", "root", "viewer")
    assert run("set-role", "eve", "trader") == (0, "user eve now has role trader")
    assert run("disable", "eve") == (0, "user eve disabled (sessions revoked)")
    with psycopg.connect(settings.database_url) as conn:
        actors = conn.execute("SELECT DISTINCT actor FROM audit_log").fetchall()
    assert len(actors) == 1 and actors[0][0].startswith("cli:")


def test_dashboard_login(db_url, tmp_path):
    from streamlit.testing.v1 import AppTest

    with transaction(db_url) as conn:
        add_role_users(conn)
    script = tmp_path / "page.py"
    script.write_text(
        "import streamlit as st\n"
        "from pathlib import Path\n"
        "from tests.conftest import make_settings\n"
        "from macroquant.auth.dashboard_login import require_login\n"
        f"user = require_login(make_settings(Path({str(tmp_path)!r}), {db_url!r}))\n"
        "st.write(f'hello {user.username} ({user.role.value})')\n")
    app = AppTest.from_file(str(script), default_timeout=60).run()
    assert [t.label for t in app.text_input] == ["Username", "Password"]
    assert not app.markdown or "hello" not in app.markdown[0].value
    app.text_input[0].input("vera")
    app.text_input[1].input("wrong-password")
    app.button[0].click().run()
    assert [e.value for e in app.error] == ["wrong username or password"]
    app.text_input[1].input(PASSWORDS["viewer"])
    app.button[0].click().run()
    assert any(m.value == "hello vera (viewer)" for m in app.markdown)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT outcome, client FROM audit_log WHERE action = 'login' "
                            "ORDER BY audit_id").fetchall()[-2:] == [
            ("denied", "dashboard:unknown"), ("success", "dashboard:unknown")]
