"""Encrypted secrets on real PostgreSQL, masking in logs, and the planted-secret scan."""

from __future__ import annotations

import io
import logging
import os
import secrets as std_secrets
import stat
from datetime import date
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql

from macroquant.db.connection import transaction
from macroquant.pipeline.logs import write_system_log
from macroquant.security.masking import (
    MASK,
    SecretMaskingFilter,
    clear_registered_secrets,
    install_secret_masking,
    mask_object,
    mask_text,
    uninstall_secret_masking,
)
from macroquant.security.secrets import (
    KEY_ENV,
    SecretsError,
    delete_secret,
    get_secret,
    key_fingerprint,
    list_secrets,
    load_key,
    rotate_key,
    secrets_command,
    set_secret,
)
from tests.conftest import make_settings


def _plaintext() -> str:
    """A fresh value per test that occurs nowhere by chance."""
    return f"planted-{std_secrets.token_urlsafe(24)}"


@pytest.fixture(autouse=True)
def _clean_masking(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    clear_registered_secrets()
    yield
    uninstall_secret_masking()
    clear_registered_secrets()


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


# ---------------------------------------------------------------------------- the store
def test_round_trip_set_get_list_delete(db_url, key):
    value = _plaintext()
    with transaction(db_url) as conn:
        set_secret(conn, "FRED_API_KEY", value, key=key)
        set_secret(conn, "BROKER_PASSWORD", "other-" + value, key=key)
    with transaction(db_url) as conn:
        assert get_secret(conn, "FRED_API_KEY", key=key) == value
        listed = list_secrets(conn)
    assert [r["name"] for r in listed] == ["BROKER_PASSWORD", "FRED_API_KEY"]
    assert set(listed[0]) == {"name", "key_fingerprint", "created_at", "updated_at"}
    assert all(r["key_fingerprint"] == key_fingerprint(key) for r in listed)
    assert value not in repr(listed)

    with transaction(db_url) as conn:
        set_secret(conn, "FRED_API_KEY", "replaced-" + value, key=key)
        assert get_secret(conn, "FRED_API_KEY", key=key) == "replaced-" + value
        delete_secret(conn, "FRED_API_KEY")
        assert [r["name"] for r in list_secrets(conn)] == ["BROKER_PASSWORD"]
        with pytest.raises(SecretsError, match="no secret named FRED_API_KEY"):
            get_secret(conn, "FRED_API_KEY", key=key)
        with pytest.raises(SecretsError, match="no secret named FRED_API_KEY"):
            delete_secret(conn, "FRED_API_KEY")


def test_ciphertext_does_not_contain_the_plaintext(db_url, key):
    value = _plaintext()
    with transaction(db_url) as conn:
        set_secret(conn, "FRED_API_KEY", value, key=key)
        token, fingerprint = conn.execute(
            "SELECT ciphertext, key_fingerprint FROM secrets WHERE name = 'FRED_API_KEY'"
        ).fetchone()
    token = bytes(token)
    assert value.encode() not in token
    assert value.encode().hex().encode() not in token.hex().encode()
    assert Fernet(key).decrypt(token) == value.encode()  # it really is the Fernet token
    assert fingerprint == key_fingerprint(key) and key not in token


def test_wrong_key_is_a_clear_error_without_the_value(db_url, key):
    value = _plaintext()
    other = Fernet.generate_key()
    with transaction(db_url) as conn:
        set_secret(conn, "IBKR_PASSWORD", value, key=key)
    with transaction(db_url) as conn, pytest.raises(SecretsError) as caught:
        get_secret(conn, "IBKR_PASSWORD", key=other)
    message = str(caught.value)
    assert "IBKR_PASSWORD" in message and key_fingerprint(key) in message
    assert value not in message and other.decode() not in message
    assert caught.value.__cause__ is None

    # a fingerprint that matches but a token that does not decrypt (corruption, tampering)
    with transaction(db_url) as conn:
        conn.execute("UPDATE secrets SET key_fingerprint = %s", (key_fingerprint(other),))
    with transaction(db_url) as conn, pytest.raises(SecretsError) as caught:
        get_secret(conn, "IBKR_PASSWORD", key=other)
    assert "IBKR_PASSWORD" in str(caught.value) and "cannot be decrypted" in str(caught.value)
    assert value not in str(caught.value)
    # the InvalidToken is not chained: a traceback shows only the SecretsError
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("name", ["", "x", "fred_api_key", "1KEY", "A-B", "A" * 65, "K Y"])
def test_invalid_names_are_refused(db_url, key, name):
    with transaction(db_url) as conn, pytest.raises(SecretsError, match="invalid secret name"):
        set_secret(conn, name, "value-1234", key=key)


def test_empty_value_is_refused(db_url, key):
    with transaction(db_url) as conn, pytest.raises(SecretsError, match="empty"):
        set_secret(conn, "EMPTY_ONE", "", key=key)


def test_rotate_key_re_encrypts_everything(db_url, key):
    new = Fernet.generate_key()
    values = {"A_KEY": _plaintext(), "B_KEY": _plaintext()}
    with transaction(db_url) as conn:
        for name, value in values.items():
            set_secret(conn, name, value, key=key)
    with transaction(db_url) as conn:
        assert rotate_key(conn, key, new) == 2
    with transaction(db_url) as conn:
        assert rotate_key(conn, key, new) == 0  # a rerun finds nothing to do
        for name, value in values.items():
            assert get_secret(conn, name, key=new) == value
            with pytest.raises(SecretsError, match=name):
                get_secret(conn, name, key=key)
    with transaction(db_url) as conn, pytest.raises(SecretsError, match="neither the old"):
        rotate_key(conn, Fernet.generate_key(), Fernet.generate_key())


# ---------------------------------------------------------------------------- the key
def test_key_file_is_created_once_with_mode_0600(tmp_path: Path, db_url):
    settings = make_settings(tmp_path / "home", db_url)
    first = load_key(settings, environ={})
    path = settings.home / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(settings, environ={}) == first
    Fernet(first)  # a valid key

    from_env = Fernet.generate_key()
    assert load_key(settings, environ={KEY_ENV: from_env.decode()}) == from_env

    with pytest.raises(SecretsError, match="not a valid Fernet key") as caught:
        load_key(settings, environ={KEY_ENV: "not-a-key"})
    assert "not-a-key" not in str(caught.value)

    path.chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        load_key(settings, environ={})


def test_no_key_and_create_false(tmp_path: Path, db_url):
    settings = make_settings(tmp_path, db_url)
    with pytest.raises(SecretsError, match="no secrets key"):
        load_key(settings, environ={}, create=False)
    assert not (tmp_path / "secret.key").exists()


# ---------------------------------------------------------------------------- the CLI
def test_cli_set_list_delete(settings):
    value = _plaintext()
    code, out = secrets_command(settings, "set", "FRED_API_KEY", True,
                                stdin=io.StringIO(value + "\n"))
    assert code == 0 and "FRED_API_KEY" in out and value not in out
    assert (settings.home / "secret.key").exists()  # the key file was made on first use

    code, out = secrets_command(settings, "list")
    assert code == 0 and "FRED_API_KEY" in out and value not in out
    with transaction(settings.database_url) as conn:
        assert get_secret(conn, "FRED_API_KEY", key=load_key(settings, {})) == value

    code, out = secrets_command(settings, "delete", "FRED_API_KEY")
    assert (code, out) == (0, "secret FRED_API_KEY deleted")
    assert secrets_command(settings, "list") == (0, "no secrets stored")
    code, out = secrets_command(settings, "delete", "FRED_API_KEY")
    assert code == 1 and "no secret named FRED_API_KEY" in out


def test_cli_set_prompts_twice_hidden(settings):
    value = _plaintext()
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return value

    code, _ = secrets_command(settings, "set", "BROKER_PASSWORD", False, prompt=prompt)
    assert code == 0 and len(prompts) == 2 and all(value not in p for p in prompts)

    answers = iter([value, value + "x"])
    code, out = secrets_command(settings, "set", "OTHER_KEY", False,
                                prompt=lambda _: next(answers))
    assert code == 1 and "differ" in out and value not in out
    assert "OTHER_KEY" not in secrets_command(settings, "list")[1]


def test_cli_refusals(settings):
    assert secrets_command(settings, "set")[0] == 1
    code, out = secrets_command(settings, "set", "bad name", True, stdin=io.StringIO("v"))
    assert code == 1 and "invalid secret name" in out
    code, out = secrets_command(settings, "show", "FRED_API_KEY")
    assert code == 1 and "unknown action" in out
    code, out = secrets_command(settings, "set", "EMPTY_KEY", True, stdin=io.StringIO("\n"))
    assert code == 1 and "empty" in out


# ---------------------------------------------------------------------------- masking
def test_mask_text_patterns():
    known = _plaintext()
    text = (
        f"value {known}; postgresql://mq:dbpass99@db:5432/mq; api_key=abcd1234efgh; "
        '{"client_secret": "sh-12345 6"}; Authorization: Bearer eyJhbGciOi.x.y; '
        "token: tok_998877; password=pw-42 tokens=5 keys=3"
    )
    masked = mask_text(text, [known])
    for leaked in (known, "dbpass99", "abcd1234efgh", "sh-12345 6", "eyJhbGciOi", "tok_998877",
                   "pw-42"):
        assert leaked not in masked
    assert "tokens=5 keys=3" in masked and "postgresql://mq:***@db:5432/mq" in masked
    assert mask_text("abc", ["abc"]) == "abc"  # too short to mask by value
    assert mask_object({"a": [known, 1], "b": {"c": known}}, [known]) == {
        "a": [MASK, 1], "b": {"c": MASK}}


def test_filter_masks_message_args_and_exception():
    value = _plaintext()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(SecretMaskingFilter([value]))
    logger = logging.getLogger("mq.test.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key is %s", value)
        logger.warning(f"inline {value}")
        try:
            raise RuntimeError(f"refused {value}")
        except RuntimeError:
            logger.exception("failed with %r", {"secret": value})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    out = stream.getvalue()
    assert value not in out
    assert out.count(MASK) >= 4 and "RuntimeError: refused ***" in out


# ---------------------------------------------------------------------------- planted secret
def _text_columns(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public'
             AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',
                               'bytea', 'ARRAY', 'USER-DEFINED')
           ORDER BY table_name, column_name"""
    ).fetchall()


def _tables_containing(conn: psycopg.Connection, needle: str) -> list[str]:
    """Every public ``table.column`` whose value contains ``needle`` (as text or as bytes)."""
    hits = []
    for table, column, data_type in _text_columns(conn):
        if data_type == "bytea":
            condition = sql.SQL("position({needle} IN {col}) > 0").format(
                needle=sql.Literal(needle.encode()), col=sql.Identifier(column))
        else:
            condition = sql.SQL("strpos({col}::text, {needle}) > 0").format(
                col=sql.Identifier(column), needle=sql.Literal(needle))
        query = sql.SQL("SELECT count(*) FROM {table} WHERE {condition}").format(
            table=sql.Identifier(table), condition=condition)
        if conn.execute(query).fetchone()[0]:
            hits.append(f"{table}.{column}")
    return hits


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_planted_secret_appears_nowhere(tmp_path: Path, db_url, caplog):
    home = tmp_path / "home"
    bad_config = tmp_path / "missing.yaml"
    settings = make_settings(home, db_url, config_path=bad_config)
    value = _plaintext()

    # 1. store it through the CLI path (key file created under MACROQUANT_HOME)
    code, _ = secrets_command(settings, "set", "BROKER_API_KEY", True,
                              stdin=io.StringIO(value))
    assert code == 0

    # 2. logs: a file handler under MACROQUANT_HOME, and pytest's capture, both masked
    log_file = home / "logs" / "macroquant.log"
    log_file.parent.mkdir(parents=True)
    file_handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    root.addHandler(file_handler)
    caplog.set_level(logging.INFO)
    try:
        install_secret_masking()
        with transaction(db_url) as conn:
            fetched = get_secret(conn, "BROKER_API_KEY", key=load_key(settings, {}))
        assert fetched == value
        log = logging.getLogger("macroquant.sources.broker")
        log.info("connecting with key %s", fetched)
        log.warning(f"GET https://api.example.test/v1?api_key={fetched}")
        log.info("header Authorization: Bearer %s", fetched)
        try:
            raise ConnectionError(f"broker refused credentials {fetched}")
        except ConnectionError:
            log.exception("login failed")

        # 3. system_logs through mask_text (what write_system_log should do itself)
        with transaction(db_url) as conn:
            write_system_log(conn, "ERROR", "macroquant.sources.broker",
                             mask_text(f"login failed for key {fetched}"), "planted",
                             mask_object({"key": fetched}))  # type: ignore[arg-type]

        # 4. one real pipeline stage that fails and writes an ERROR row to system_logs
        from macroquant.pipeline.runner import run_stage

        with pytest.raises(Exception):  # noqa: B017 - any failure: we want its log rows
            run_stage("portfolio", date(2012, 10, 1), date(2012, 10, 1), "planted", settings)
    finally:
        root.removeHandler(file_handler)
        file_handler.close()

    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT status FROM pipeline_runs WHERE run_id = 'planted' AND stage = 'portfolio'"
        ).fetchone() == ("failed",)
        assert conn.execute(
            "SELECT count(*) FROM system_logs WHERE run_id = 'planted' AND level = 'ERROR'"
        ).fetchone()[0] == 2
        scanned = {f"{t}.{c}" for t, c, _ in _text_columns(conn)}
        # the scan reaches the tables that matter, and finds what really is there
        assert {"secrets.ciphertext", "system_logs.message", "system_logs.context",
                "pipeline_runs.message", "data_sources.credentials_ref"} <= scanned
        assert len({s.split(".")[0] for s in scanned}) >= 10
        assert "secrets.name" in _tables_containing(conn, "BROKER_API_KEY")
        assert "system_logs.message" in _tables_containing(conn, "login failed for key ***")
        assert "system_logs.context" in _tables_containing(conn, "portfolio") or \
            "system_logs.logger" in _tables_containing(conn, "portfolio")
        # the actual check: the plaintext is in no column of any table
        assert _tables_containing(conn, value) == []

    captured = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    file_text = log_file.read_text()
    assert "connecting with key ***" in file_text and "credentials ***" in file_text
    assert "api_key=***" in captured and "Bearer ***" in captured
    assert value not in captured and value not in file_text
    files = list(home.rglob("*"))
    assert home / "secret.key" in files and log_file in files
    assert _files_containing(home, value) == []


def test_secret_in_a_stage_exception_is_masked_by_the_runner(db_url, tmp_path, monkeypatch):
    import macroquant.pipeline.runner as runner

    settings = make_settings(tmp_path, db_url)
    key = Fernet.generate_key()
    value = _plaintext()
    with transaction(db_url) as conn:
        set_secret(conn, "BROKER_API_KEY", value, key=key)

    def failing(context):
        raise ConnectionError(f"broker refused credentials {value}")

    monkeypatch.setattr(runner, "stage_function", lambda stage: failing)
    with pytest.raises(ConnectionError):
        runner.run_stage("orders", date(2012, 10, 1), date(2012, 10, 1), "leak", settings)
    with psycopg.connect(db_url) as conn:
        assert _tables_containing(conn, value) == []


def test_key_file_is_not_world_readable_after_cli(settings):
    secrets_command(settings, "set", "SOME_KEY", True, stdin=io.StringIO("value-5678"))
    mode = stat.S_IMODE(os.stat(settings.home / "secret.key").st_mode)
    assert mode == 0o600
