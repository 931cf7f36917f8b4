"""Connections to MacroQuant's PostgreSQL: a server named by URL, or the embedded one.

The embedded server (``pgserver``) is started on first use in ``$MACROQUANT_HOME/pgdata``
and left running (detached) so that the CLI, Airflow tasks and the dashboard, which are
separate processes, share one server; ``macroquant db stop`` stops it.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from macroquant.config.settings import Settings
from macroquant.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

# Settings of the embedded server (not of a server named by MACROQUANT_DATABASE_URL).
# wal_level 'minimal' lets a transaction that creates or truncates a table write its rows
# and build its indexes without WAL (the files are synced at commit instead, so it stays
# crash-safe): the bulk publish of a first large CSV load (validation/publish.py) took
# 5.4 s instead of 7.7 s for 5 M rows (benchmarks/README.md). It rules out WAL archiving and streaming replicas, which a single-user server in
# a home directory does not have; `macroquant db backup` (pg_dump) is unaffected.
EMBEDDED_SERVER_SETTINGS: dict[str, str] = {"wal_level": "minimal", "max_wal_senders": "0"}

# user:password@host inside a URL, with or without its scheme (``postgresql://``, a typo
# such as ``postgresq://`` or ``postgres//``). The password may hold '@', ':', '/' and
# percent-escapes: it runs to the last '@' that is followed by a host (no '@', no space).
_PASSWORD_IN_URL = re.compile(
    r"""(?P<prefix>(?:[A-Za-z][A-Za-z0-9+.\-]*:/{0,3}|//|(?<![^\s"'(=,]))[^\s:/@"'<>]*:)(?!//)"""
    r"""(?P<password>[^\s"'<>]+)(?P<at>@)(?=[^\s@"'<>/?#]*(?:[\s/?#"'<>),]|$))""")
_PASSWORD_IN_DSN = re.compile(
    r"""(?P<prefix>\bpassword\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|\S+)""", re.IGNORECASE)
URL_SCHEMES = ("postgresql", "postgres")


def mask_password(url: str) -> str:
    """Return ``url`` (or any text holding URLs or ``password=`` DSN items) with every
    password replaced by ``***``, also in URLs that do not parse."""
    masked = _PASSWORD_IN_URL.sub(lambda m: f"{m['prefix']}***{m['at']}", url)
    return _PASSWORD_IN_DSN.sub(lambda m: f"{m['prefix']}***", masked)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a PostgreSQL URL MacroQuant can use (None if it looks fine).

    Checked before any connection is tried, so that a typo gives one line naming the
    problem instead of the driver's message, which quotes the URL or a piece of it (a
    password with an unencoded '@' or '/' is split into host or port by any URL parser).
    The message never quotes a part of the URL."""
    from urllib.parse import urlsplit

    scheme, sep, rest = url.partition("://")
    if not sep:
        if re.search(r"\b(?:host|dbname|user|service)\s*=", url):
            return None  # a libpq key=value connection string
        return ("it does not start with postgresql:// (expected "
                "postgresql://USER@HOST:PORT/DATABASE, with the password after USER and ':')")
    if scheme.lower() not in URL_SCHEMES:
        return f"unknown scheme '{scheme}://' (expected postgresql:// or postgres://)"
    if any(c.isspace() for c in url):
        return "it contains white space"
    authority = rest.split("?", 1)[0]
    if authority.count("@") > 1 or "@" in authority.split("/", 1)[-1] and "/" in authority:
        return ("more than one '@' or an '@' after a '/': a password holding '@', '/' or ':' "
                "must be percent-encoded (%40, %2F, %3A)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return "its host or port cannot be read (a port is a number, e.g. host:5432)"
    if not parts.hostname and "host=" not in parts.query:
        return "it names no host"
    return None


def check_database_url(url: str, variable: str = "MACROQUANT_DATABASE_URL") -> str:
    """Return ``url`` unchanged, or raise :class:`DatabaseUnavailableError` naming the
    variable it came from and the problem (the password masked)."""
    problem = url_problem(url)
    if problem:
        raise DatabaseUnavailableError(
            f"{variable} is not a valid PostgreSQL URL ({_mask_bad_url(url)}): {problem}")
    return url


def _mask_bad_url(url: str) -> str:
    """``url`` masked even where it does not parse: everything from the ':' after the user
    name to the last '@' is the password's room."""
    head, sep, rest = url.rpartition("@")
    start = re.match(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:/{0,3})?[^:/@\s]*:", head) if sep else None
    return f"{start.group(0)}***@{rest}" if start else mask_password(url)


def embedded_server_url(pgdata: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``pgdata`` and return its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: harmless
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded path needs it

    pgdata.mkdir(parents=True, exist_ok=True)
    # One process at a time starts and configures the server (a lock on the pgdata
    # directory itself): another one that started at the same moment must not use it while
    # it restarts, nor restart it a second time.
    directory = os.open(pgdata, os.O_RDONLY)
    try:
        fcntl.flock(directory, fcntl.LOCK_EX)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            starting = not (pgdata / "postmaster.pid").exists()
            server = pgserver.get_server(pgdata, cleanup_mode=None)
            url = server.get_uri()
            configure_embedded_server(url, pgdata, restart=starting)
    except Exception as exc:  # pgserver raises bare subprocess errors
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"Its log is {pgdata / 'log'}; or set MACROQUANT_DATABASE_URL to use a server."
        ) from exc
    finally:
        os.close(directory)  # releases the lock
    return url


def configure_embedded_server(url: str, pgdata: Path, *, restart: bool) -> bool:
    """Give the embedded server :data:`EMBEDDED_SERVER_SETTINGS` (``ALTER SYSTEM``).

    They need a server restart. With ``restart`` (the caller has just started the server,
    so no other process is using it yet) the server is restarted at once; otherwise they take
    effect the next time it starts. Returns whether they are in effect.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        current = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (list(EMBEDDED_SERVER_SETTINGS),)).fetchall())
        if current == EMBEDDED_SERVER_SETTINGS:
            return True
        for name, value in EMBEDDED_SERVER_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(
                sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")  # pg_settings.pending_restart shows them
    if not restart:
        log.info("embedded PostgreSQL: %s take effect at its next start",
                 EMBEDDED_SERVER_SETTINGS)
        return False
    from pgserver import pg_ctl

    # -l: the log stays in pgdata/log, where pgserver's start put it
    pg_ctl(["-w", "-l", str(pgdata / "log"), "restart"], pgdata=pgdata, user=_server_user())
    return True


def stop_embedded_server(pgdata: Path) -> bool:
    """Stop the embedded server in ``pgdata`` if it runs; return whether one was stopped."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    from pgserver import PostgresServer, pg_ctl

    pg_ctl(["-w", "stop"], pgdata=pgdata, user=_server_user())
    # pgserver hands out one handle per pgdata and process without checking that its
    # server still runs: forget it (and its exit hook), so the next get_server() starts
    # the server again.
    handle = PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    if handle is not None:
        atexit.unregister(handle._cleanup)
    return True


def _server_user() -> str | None:
    # pgserver runs the server as a dedicated system user when started by root
    return "pgserver" if os.geteuid() == 0 else None


def database_url(settings: Settings) -> str:
    """The URL of MacroQuant's database: the configured one, else the embedded server's."""
    if settings.database_url:
        return check_database_url(settings.database_url)
    return embedded_server_url(settings.pgdata_dir)


def connect(url: str) -> psycopg.Connection:
    """Open a connection; a failure names the URL with its password masked."""
    try:
        return psycopg.connect(url, connect_timeout=10)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {mask_password(url)}: {mask_password(reason)}"
        ) from None


@contextmanager
def transaction(url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work commits on success and rolls back on any exception."""
    with connect(url) as conn, conn.transaction():
        yield conn


@contextmanager
def read_only_transaction(url: str) -> Iterator[psycopg.Connection]:
    """A connection in one READ ONLY transaction: a reader that must not write (a
    backtest) is refused by the server if it tries, and sees one consistent snapshot."""
    with connect(url) as conn:
        conn.read_only = True
        with conn.transaction():
            yield conn
