"""Connections to MacroQuant's PostgreSQL: a server named by URL, or the embedded one.

The embedded server (``pgserver``) is started on first use in ``$MACROQUANT_HOME/pgdata``
and left running (detached) so that the CLI, Airflow tasks and the dashboard, which are
separate processes, share one server; ``macroquant db stop`` stops it.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from macroquant.config.settings import Settings
from macroquant.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

_PASSWORD_IN_URL = re.compile(r"(?P<prefix>[a-z0-9+]+://[^:/@]*:)(?P<password>[^@]*)(?P<at>@)")
_PASSWORD_IN_DSN = re.compile(r"(?P<prefix>\bpassword=)(?P<password>\S+)")


def mask_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    masked = _PASSWORD_IN_URL.sub(lambda m: f"{m['prefix']}***{m['at']}", url)
    return _PASSWORD_IN_DSN.sub(lambda m: f"{m['prefix']}***", masked)


def embedded_server_url(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``pgdata`` and return its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: harmless
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded path needs it

    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises bare subprocess errors
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"Its log is {pgdata / 'log'}; or set MACROQUANT_DATABASE_URL to use a server."
        ) from exc
    return server.get_uri()


def stop_embedded_server(pgdata: Path) -> bool:
    """Stop the embedded server in ``pgdata`` if it runs; return whether one was stopped."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    from pgserver import pg_ctl

    # pgserver runs the server as a dedicated system user when started by root
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    return True


def database_url(settings: Settings) -> str:
    """The URL of MacroQuant's database: the configured one, else the embedded server's."""
    if settings.database_url:
        return settings.database_url
    return embedded_server_url(settings.pgdata_dir)


def connect(url: str) -> psycopg.Connection:
    """Open a connection; a failure names the URL with its password masked."""
    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {mask_password(url)}: {mask_password(reason)}"
        ) from None


@contextmanager
def transaction(url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on any exception."""
    with connect(url) as conn, conn.transaction():
        yield conn
