"""``macroquant secrets rotate-key``: re-encrypt every secret under a new Fernet key.

The new key is made durable *before* the database changes, so no crash can leave secrets
under a key nobody has:

- key file (``$MACROQUANT_HOME/secret.key``): a new key is written to ``secret.key.new``
  (mode 0600); every secret is re-encrypted in one transaction; then ``secret.key.new``
  replaces ``secret.key`` (an atomic rename). A rotation interrupted after the commit is
  finished by running the command again: an existing ``secret.key.new`` is reused.
- OS keyring: the same with the keyring entries ``fernet-key-new`` and ``fernet-key``.
- ``$MACROQUANT_FERNET_KEY``: the process cannot change its environment, so the new key is
  taken from ``$MACROQUANT_NEW_FERNET_KEY``; afterwards put it in ``MACROQUANT_FERNET_KEY``
  everywhere (CLI, Airflow workers, API, dashboard).

The old key is not kept. Back up the new key separately from the database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet

from macroquant.config.settings import Settings
from macroquant.db.connection import database_url, transaction
from macroquant.security.secrets import (
    KEY_ENV,
    KEYRING_ENTRY,
    KEYRING_SERVICE,
    SecretsError,
    _checked_key,
    key_file_path,
    key_fingerprint,
    key_source,
    keyring_module,
    load_key,
    rotate_key,
)

NEW_KEY_ENV = "MACROQUANT_NEW_FERNET_KEY"
KEYRING_NEW_ENTRY = f"{KEYRING_ENTRY}-new"


def _write_private(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


def _pending_file_key(settings: Settings) -> tuple[Path, bytes]:
    pending = key_file_path(settings).with_name("secret.key.new")
    if pending.exists():  # an interrupted rotation: finish it with the same key
        return pending, _checked_key(pending.read_bytes(), f"the key file {pending}")
    key = Fernet.generate_key()
    _write_private(pending, key)
    return pending, key


def rotate_key_command(settings: Settings,
                       environ: Mapping[str, str] | None = None) -> tuple[int, str]:
    """Rotate the secrets key wherever it lives; return (exit code, message). Never prints
    a key."""
    env = dict(os.environ if environ is None else environ)
    source = key_source(settings, env)
    if source == "none":
        return 1, "error: there is no secrets key yet, so nothing to rotate"
    try:
        old = load_key(settings, env, create=False)
        if source == "env":
            if not env.get(NEW_KEY_ENV):
                raise SecretsError(
                    f"the key comes from ${KEY_ENV}: put the new key in ${NEW_KEY_ENV} "
                    "for this command (generate one with: python -c 'from "
                    "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')")
            new = _checked_key(env[NEW_KEY_ENV], f"${NEW_KEY_ENV}")
        elif source == "keyring":
            keyring = keyring_module()
            assert keyring is not None
            pending = keyring.get_password(KEYRING_SERVICE, KEYRING_NEW_ENTRY)
            new = _checked_key(pending, "the pending keyring key") if pending else \
                Fernet.generate_key()
            keyring.set_password(KEYRING_SERVICE, KEYRING_NEW_ENTRY, new.decode())
        else:
            pending_path, new = _pending_file_key(settings)
        if new == old:
            raise SecretsError("the new key is the current key; nothing to rotate")
        with transaction(database_url(settings)) as conn:
            changed = rotate_key(conn, old, new)
        if source == "keyring":
            keyring.set_password(KEYRING_SERVICE, KEYRING_ENTRY, new.decode())
            keyring.delete_password(KEYRING_SERVICE, KEYRING_NEW_ENTRY)
            where = "the OS keyring"
        elif source == "file":
            os.replace(pending_path, key_file_path(settings))
            where = str(key_file_path(settings))
        else:
            where = f"nowhere yet: set {KEY_ENV} to the value of {NEW_KEY_ENV} on every host"
    except SecretsError as exc:
        return 1, f"error: {exc}"
    return 0, (f"{changed} secrets re-encrypted; key {key_fingerprint(old)} -> "
               f"{key_fingerprint(new)}; new key stored in {where}. Back it up now.")
