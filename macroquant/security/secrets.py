"""Secrets (API keys, broker credentials) encrypted at rest with Fernet in the ``secrets`` table.

The key never enters the database. It is read from, in order:

1. the environment variable ``MACROQUANT_FERNET_KEY`` (a url-safe base64 Fernet key);
2. the OS keyring (service ``macroquant``, entry ``fernet-key``), only when the optional
   ``keyring`` package is installed and holds that entry;
3. the key file ``$MACROQUANT_HOME/secret.key``, created with mode 0600 on first use.

Back the key up separately from the database: without it the stored secrets cannot be read.
Each row records the fingerprint of the key that encrypted it, so reading with another key
fails with a clear :class:`SecretsError` rather than a bare ``InvalidToken``.

Names are upper-case environment-variable style: ``^[A-Z][A-Z0-9_]{1,63}$`` (for example
``FRED_API_KEY``, ``IBKR_PASSWORD``); ``data_sources.credentials_ref`` holds such a name.
No function here ever puts a secret *value* in an exception, a log record or a return
value other than :func:`get_secret`'s.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import psycopg
from cryptography.fernet import Fernet, InvalidToken

from macroquant.config.settings import Settings, load_settings
from macroquant.db.connection import database_url, transaction
from macroquant.errors import MacroQuantError
from macroquant.pipeline.logs import write_system_log
from macroquant.security.masking import register_secret

log = logging.getLogger(__name__)

KEY_ENV = "MACROQUANT_FERNET_KEY"
KEY_FILE_NAME = "secret.key"
NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
MAX_VALUE_BYTES = 64 * 1024
ACTIONS = ("set", "list", "delete", "rotate-key")
KEYRING_SERVICE = "macroquant"
KEYRING_ENTRY = "fernet-key"


class SecretsError(MacroQuantError):
    """A secret is missing, badly named, or cannot be decrypted (messages never hold values)."""


# ---------------------------------------------------------------------------- the key
def key_fingerprint(key: bytes) -> str:
    """The first 16 hex digits of SHA-256 of ``key``: identifies a key without revealing it."""
    return hashlib.sha256(key).hexdigest()[:16]


def _checked_key(key: bytes | str, origin: str) -> bytes:
    raw = key.encode("ascii", "replace") if isinstance(key, str) else key
    raw = raw.strip()
    try:
        Fernet(raw)
    except (ValueError, TypeError):
        raise SecretsError(
            f"{origin} is not a valid Fernet key (32 url-safe base64-encoded bytes); "
            "generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        ) from None
    return raw


def key_file_path(settings: Settings) -> Path:
    """Where the key file lives: ``$MACROQUANT_HOME/secret.key``."""
    return settings.home / KEY_FILE_NAME


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretsError(
            f"{path}: the key file is readable by other users (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    return _checked_key(path.read_bytes(), f"the key file {path}")


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use that one
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    log.warning(
        "created a new secrets key in %s (fingerprint %s); back it up separately from the "
        "database and never commit it", path, key_fingerprint(key),
    )
    return key


def keyring_module() -> Any | None:
    """The ``keyring`` package when it is installed (it is optional), else None."""
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def read_keyring_key() -> bytes | None:
    """The key stored in the OS keyring, or None (no keyring package, no entry, or no
    usable keyring backend on this host)."""
    module = keyring_module()
    if module is None:
        return None
    try:
        value = module.get_password(KEYRING_SERVICE, KEYRING_ENTRY)
    except Exception as exc:  # keyring.errors.KeyringError / NoKeyringError: no backend
        log.info("OS keyring not usable (%s); using the key file", type(exc).__name__)
        return None
    return _checked_key(value, "the key in the OS keyring") if value else None


def key_source(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """Where :func:`load_key` takes the key from: ``env``, ``keyring``, ``file`` or
    ``none`` (no key yet)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return "env"
    if read_keyring_key() is not None:
        return "keyring"
    return "file" if key_file_path(settings).exists() else "none"


def load_key(
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    create: bool = True,
) -> bytes:
    """The Fernet key: ``$MACROQUANT_FERNET_KEY``, else the OS keyring entry (when the
    optional ``keyring`` package is installed and has one), else
    ``$MACROQUANT_HOME/secret.key``.

    With ``create`` the key file is generated (mode 0600) when none exists.
    """
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return _checked_key(env[KEY_ENV], f"${KEY_ENV}")
    from_keyring = read_keyring_key()
    if from_keyring is not None:
        return from_keyring
    settings = settings or load_settings(dict(env))
    path = key_file_path(settings)
    if path.exists():
        return _read_key_file(path)
    if not create:
        raise SecretsError(f"no secrets key: set ${KEY_ENV} or create {path}")
    return _create_key_file(path)


def _resolve_key(key: bytes | str | None) -> bytes:
    return load_key() if key is None else _checked_key(key, "the given key")


# ---------------------------------------------------------------------------- the store
def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise :class:`SecretsError`."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise SecretsError(
            f"invalid secret name {name!r}: use 2-64 characters A-Z, 0-9 and _, "
            "starting with a letter (e.g. FRED_API_KEY)"
        )
    return name


def set_secret(
    conn: psycopg.Connection, name: str, value: str, *, key: bytes | str | None = None
) -> None:
    """Encrypt ``value`` and store it under ``name`` (insert or replace)."""
    validate_name(name)
    if not isinstance(value, str) or not value:
        raise SecretsError(f"secret {name}: the value is empty")
    data = value.encode("utf-8")
    if len(data) > MAX_VALUE_BYTES:
        raise SecretsError(f"secret {name}: the value is longer than {MAX_VALUE_BYTES} bytes")
    fernet_key = _resolve_key(key)
    token = Fernet(fernet_key).encrypt(data)
    register_secret(value)
    conn.execute(
        """INSERT INTO secrets (name, ciphertext, key_fingerprint)
           VALUES (%s, %s, %s)
           ON CONFLICT (name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext,
               key_fingerprint = EXCLUDED.key_fingerprint, updated_at = now()""",
        (name, token, key_fingerprint(fernet_key)),
    )
    write_system_log(conn, "INFO", __name__, f"secret {name} set", None,
                     {"secret": name, "key_fingerprint": key_fingerprint(fernet_key)})


def get_secret(conn: psycopg.Connection, name: str, *, key: bytes | str | None = None) -> str:
    """Decrypt and return the secret ``name``; the value is registered for log masking."""
    validate_name(name)
    row = conn.execute(
        "SELECT ciphertext, key_fingerprint FROM secrets WHERE name = %s", (name,)
    ).fetchone()
    if row is None:
        raise SecretsError(f"no secret named {name}; set it with: macroquant secrets set {name}")
    token, stored_fingerprint = bytes(row[0]), row[1]
    fernet_key = _resolve_key(key)
    if stored_fingerprint != key_fingerprint(fernet_key):
        raise SecretsError(
            f"secret {name} was encrypted with the key of fingerprint {stored_fingerprint}, "
            f"but the current key's fingerprint is {key_fingerprint(fernet_key)}: "
            f"set ${KEY_ENV} or restore the matching key file (see docs/secrets.md)"
        )
    try:
        value = Fernet(fernet_key).decrypt(token).decode("utf-8")
    except (InvalidToken, UnicodeDecodeError):
        raise SecretsError(
            f"secret {name} cannot be decrypted with the current key: the stored ciphertext "
            "is corrupt or was written with another key"
        ) from None
    register_secret(value)
    return value


def list_secrets(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Names, key fingerprints and audit timestamps of all secrets, by name. Never values."""
    rows = conn.execute(
        """SELECT name, key_fingerprint, created_at, updated_at FROM secrets ORDER BY name"""
    ).fetchall()
    return [
        {"name": n, "key_fingerprint": f, "created_at": c, "updated_at": u}
        for n, f, c, u in rows
    ]


def delete_secret(conn: psycopg.Connection, name: str) -> None:
    """Delete the secret ``name``; a missing secret is an error."""
    validate_name(name)
    deleted = conn.execute("DELETE FROM secrets WHERE name = %s", (name,)).rowcount
    if not deleted:
        raise SecretsError(f"no secret named {name}")
    write_system_log(conn, "INFO", __name__, f"secret {name} deleted", None, {"secret": name})


def rotate_key(conn: psycopg.Connection, old_key: bytes | str, new_key: bytes | str) -> int:
    """Re-encrypt every secret from ``old_key`` to ``new_key``; return how many were changed.

    Run it inside one transaction (``with transaction(url) as conn``): either every secret
    moves to the new key or none does. Rows already under ``new_key`` are skipped, so an
    interrupted rotation can be rerun. A row under any third key is an error.
    """
    old = _checked_key(old_key, "the old key")
    new = _checked_key(new_key, "the new key")
    old_fp, new_fp = key_fingerprint(old), key_fingerprint(new)
    old_fernet, new_fernet = Fernet(old), Fernet(new)
    rows = conn.execute(
        "SELECT name, ciphertext, key_fingerprint FROM secrets ORDER BY name FOR UPDATE"
    ).fetchall()
    changed = 0
    for name, token, fingerprint in rows:
        if fingerprint == new_fp:
            continue
        if fingerprint != old_fp:
            raise SecretsError(
                f"secret {name} is under key fingerprint {fingerprint}, which is neither the "
                f"old ({old_fp}) nor the new key ({new_fp}); nothing was rotated"
            )
        try:
            plain = old_fernet.decrypt(bytes(token))
        except InvalidToken:
            raise SecretsError(f"secret {name} cannot be decrypted with the old key") from None
        conn.execute(
            """UPDATE secrets SET ciphertext = %s, key_fingerprint = %s, updated_at = now()
               WHERE name = %s""",
            (new_fernet.encrypt(plain), new_fp, name),
        )
        changed += 1
    write_system_log(conn, "INFO", __name__, f"secrets key rotated: {changed} re-encrypted",
                     None, {"old_key_fingerprint": old_fp, "new_key_fingerprint": new_fp})
    return changed


# ---------------------------------------------------------------------------- the CLI
def _read_value(
    name: str,
    value_from_stdin: bool | None,
    stdin: IO[str] | None,
    prompt: Callable[[str], str],
) -> str:
    stream = stdin if stdin is not None else sys.stdin
    if value_from_stdin is None:
        value_from_stdin = not stream.isatty()
    if value_from_stdin:
        value = stream.read()
        # one trailing newline comes from `echo` / here-strings; keep everything else
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
        return value
    value = prompt(f"value for {name} (input hidden): ")
    if prompt(f"repeat the value for {name}: ") != value:
        raise SecretsError(f"secret {name}: the two values differ; nothing was stored")
    return value


def secrets_command(
    settings: Settings,
    action: str,
    name: str | None = None,
    value_from_stdin: bool | None = None,
    *,
    stdin: IO[str] | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> tuple[int, str]:
    """``macroquant secrets set NAME | list | delete NAME | rotate-key``: return (exit code,
    output). ``rotate-key`` is :func:`macroquant.security.key_rotation.rotate_key_command`.

    ``set`` never takes the value from the command line (it would land in shell history and
    ``ps``): it reads standard input when ``value_from_stdin`` is true (or, when it is None,
    when standard input is not a terminal), else prompts twice with hidden input.
    """
    try:
        if action not in ACTIONS:
            raise SecretsError(f"unknown action {action!r}; actions are: {', '.join(ACTIONS)}")
        if action in ("set", "delete"):
            if name is None:
                raise SecretsError(f"macroquant secrets {action} needs a NAME")
            validate_name(name)
        environ = dict(os.environ)
        if action == "rotate-key":
            from macroquant.security.key_rotation import rotate_key_command

            return rotate_key_command(settings, environ)
        if action == "set":
            assert name is not None
            value = _read_value(name, value_from_stdin, stdin, prompt)
            key = load_key(settings, environ)
            with transaction(database_url(settings)) as conn:
                set_secret(conn, name, value, key=key)
            return 0, f"secret {name} stored (key fingerprint {key_fingerprint(key)})"
        with transaction(database_url(settings)) as conn:
            if action == "list":
                rows = list_secrets(conn)
                if not rows:
                    return 0, "no secrets stored"
                width = max(len("NAME"), *(len(r["name"]) for r in rows))
                lines = [f"{'NAME':<{width}}  {'KEY':<16}  UPDATED"]
                lines += [
                    f"{r['name']:<{width}}  {r['key_fingerprint']:<16}  "
                    f"{r['updated_at'].isoformat(timespec='seconds')}"
                    for r in rows
                ]
                return 0, "\n".join(lines)
            assert name is not None
            delete_secret(conn, name)
            return 0, f"secret {name} deleted"
    except MacroQuantError as exc:
        return 1, f"error: {exc}"
    except (EOFError, KeyboardInterrupt):
        return 1, "error: no value entered; nothing was stored"
