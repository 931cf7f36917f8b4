"""A planted secret, sent through the API (as a broker credential, as a wrong password,
inside a username) and logged by the structured file logger, appears in no table of any
schema (macroquant.db.catalog.user_tables) and in no file under MACROQUANT_HOME.
Also: ``secrets rotate-key`` for the key file, the environment and an OS keyring."""

from __future__ import annotations

import json
import logging
import secrets as std_secrets
import sys
import types

import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from psycopg import sql

from macroquant.api.app import create_app
from macroquant.auth.sessions import issue_session
from macroquant.auth.users import get_user
from macroquant.db.catalog import qualified, table_key, user_tables
from macroquant.db.connection import transaction
from macroquant.logging_setup import configure_file_logging, remove_file_logging
from macroquant.security.key_rotation import NEW_KEY_ENV
from macroquant.security.masking import clear_registered_secrets, uninstall_secret_masking
from macroquant.security.secrets import (
    KEY_ENV,
    get_secret,
    key_fingerprint,
    key_source,
    load_key,
    secrets_command,
    set_secret,
)
from tests.auth.helpers import FakeClock, add_role_users


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(NEW_KEY_ENV, raising=False)
    clear_registered_secrets()
    yield
    uninstall_secret_masking()
    clear_registered_secrets()


def tables_containing(conn: psycopg.Connection, needle: str) -> tuple[list[str], int]:
    """Every ``table`` (any schema) whose row, cast to text, contains ``needle`` as text or,
    for bytea columns (rendered as hex in a row's text), as the hex of its UTF-8 bytes; and
    how many tables were scanned."""
    hits, scanned = [], 0
    for schema, table in user_tables(conn):
        scanned += 1
        query = sql.SQL("SELECT count(*) FROM {t} AS r WHERE strpos(r::text, %s) > 0 "
                        "OR strpos(r::text, %s) > 0").format(t=qualified(schema, table))
        if conn.execute(query, (needle, needle.encode().hex())).fetchone()[0]:
            hits.append(table_key(schema, table))
    return hits, scanned


def test_planted_secret_is_in_no_table_and_no_log_file(settings, capsys):
    value = f"planted-{std_secrets.token_urlsafe(24)}"
    clock = FakeClock()
    with transaction(settings.database_url) as conn:
        add_role_users(conn)
        admin = get_user(conn, "ada")
        token = issue_session(conn, admin, at=clock())[0]  # type: ignore[arg-type]
    log_path = configure_file_logging(settings)
    try:
        client = TestClient(create_app(settings, clock=clock))
        h = {"Authorization": f"Bearer {token}"}
        assert client.put("/broker/credentials/BROKER_API_KEY", json={"value": value},
                          headers=h).status_code == 204
        assert client.post("/auth/login", json={"username": "ada", "password": value}
                           ).status_code == 401
        assert client.post("/auth/login", json={"username": value, "password": value}
                           ).status_code == 401
        assert client.get("/signals", headers={"Authorization": f"Bearer {value}"}
                          ).status_code == 401
        log = logging.getLogger("macroquant.execution.broker")
        with transaction(settings.database_url) as conn:
            fetched = get_secret(conn, "BROKER_API_KEY", key=load_key(settings, {}))
        assert fetched == value
        log.warning("connecting with api_key=%s", fetched)
        try:
            raise ConnectionError(f"refused {fetched}")
        except ConnectionError:
            log.exception("broker login failed")
    finally:
        remove_file_logging(settings)

    with psycopg.connect(settings.database_url) as conn:
        hits, scanned = tables_containing(conn, value)
        # the scan finds what is really there: the secret's name, the audit of its change
        assert "secrets" in tables_containing(conn, "BROKER_API_KEY")[0]
        assert "audit_log" in tables_containing(conn, "credential/BROKER_API_KEY")[0]
        assert conn.execute("SELECT count(*) FROM secrets").fetchone()[0] == 1
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    messages = [entry["message"] for entry in lines]
    assert "connecting with api_key=***" in messages
    assert any(e["message"] == "broker login failed" and "refused ***" in e["exc"]
               for e in lines)
    assert any(e["logger"] == "macroquant.audit" and e.get("audit", {}).get("outcome")
               == "denied" for e in lines)
    files = [p for p in settings.home.rglob("*") if p.is_file()]
    leaked_files = [p for p in files if value.encode() in p.read_bytes()]
    with capsys.disabled():
        print(f"\nplanted-secret scan: {scanned} tables, {len(hits)} containing it; "
              f"{len(files)} files under MACROQUANT_HOME ({len(lines)} JSON log lines), "
              f"{len(leaked_files)} containing it")
    assert scanned >= 20 and hits == [] and leaked_files == []
    assert log_path in files and (settings.home / "secret.key") in files


def test_rotate_key_with_the_key_file(settings):
    first = load_key(settings, {})
    with transaction(settings.database_url) as conn:
        set_secret(conn, "A_KEY", "value-a-123", key=first)
    code, out = secrets_command(settings, "rotate-key")
    assert code == 0 and out.startswith("1 secrets re-encrypted")
    second = load_key(settings, {}, create=False)
    assert second != first and key_fingerprint(second) in out
    assert first.decode() not in out and second.decode() not in out
    assert not (settings.home / "secret.key.new").exists()
    assert (settings.home / "secret.key").stat().st_mode & 0o077 == 0
    with transaction(settings.database_url) as conn:
        assert get_secret(conn, "A_KEY", key=second) == "value-a-123"


def test_rotate_key_resumes_after_a_crash_between_commit_and_rename(settings, monkeypatch):
    first = load_key(settings, {})
    with transaction(settings.database_url) as conn:
        set_secret(conn, "A_KEY", "value-a-123", key=first)
    import macroquant.security.key_rotation as rotation

    def crash(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(rotation.os, "replace", crash)
    with pytest.raises(OSError):
        secrets_command(settings, "rotate-key")
    pending = Fernet(  # the database moved to the pending key, kept on disk
        (settings.home / "secret.key.new").read_bytes().strip())
    monkeypatch.undo()
    code, out = secrets_command(settings, "rotate-key")
    assert code == 0 and out.startswith("0 secrets re-encrypted")
    with transaction(settings.database_url) as conn:
        assert get_secret(conn, "A_KEY", key=load_key(settings, {})) == "value-a-123"
    assert pending.decrypt(pending.encrypt(b"x")) == b"x"


def test_rotate_key_from_the_environment(settings, monkeypatch):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(KEY_ENV, old.decode())
    with transaction(settings.database_url) as conn:
        set_secret(conn, "A_KEY", "value-a-123", key=old)
    code, out = secrets_command(settings, "rotate-key")
    assert code == 1 and NEW_KEY_ENV in out
    monkeypatch.setenv(NEW_KEY_ENV, new.decode())
    code, out = secrets_command(settings, "rotate-key")
    assert code == 0 and f"set {KEY_ENV}" in out and new.decode() not in out
    with transaction(settings.database_url) as conn:
        assert get_secret(conn, "A_KEY", key=new) == "value-a-123"


def test_os_keyring_is_used_when_installed(settings, monkeypatch):
    store: dict[tuple[str, str], str] = {}
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, entry: store.get((service, entry))  # type: ignore[attr-defined]
    fake.set_password = lambda service, entry, v: store.__setitem__((service, entry), v)  # type: ignore[attr-defined]
    fake.delete_password = lambda service, entry: store.pop((service, entry))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert key_source(settings, {}) == "none"  # installed but empty: the file is used
    key = Fernet.generate_key()
    store[("macroquant", "fernet-key")] = key.decode()
    assert key_source(settings, {}) == "keyring" and load_key(settings, {}) == key
    assert not (settings.home / "secret.key").exists()
    with transaction(settings.database_url) as conn:
        set_secret(conn, "A_KEY", "value-a-123", key=key)
    code, out = secrets_command(settings, "rotate-key")
    assert code == 0 and "OS keyring" in out
    assert list(store) == [("macroquant", "fernet-key")] and store[("macroquant",
                                                                     "fernet-key")] != key.decode()
    with transaction(settings.database_url) as conn:
        assert get_secret(conn, "A_KEY", key=load_key(settings, {})) == "value-a-123"
    monkeypatch.setitem(sys.modules, "keyring", None)  # not installed: import fails
    assert key_source(settings, {}) == "none"


def test_json_log_lines(settings):
    path = configure_file_logging(settings)
    try:
        logging.getLogger("macroquant.pipeline.signals").info("stage done", extra={"run_id": "r1"})
        logging.getLogger("urllib3").info("chatty library")  # below WARNING: not kept
        logging.getLogger("urllib3").warning("retrying")
        assert configure_file_logging(settings) == path  # idempotent: one handler
    finally:
        remove_file_logging(settings)
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["level"], e["logger"], e["message"], e.get("run_id")) for e in entries] == [
        ("INFO", "macroquant.pipeline.signals", "stage done", "r1"),
        ("WARNING", "urllib3", "retrying", None)]
    assert entries[0]["ts"].endswith("+00:00") and path.stat().st_mode & 0o077 == 0
