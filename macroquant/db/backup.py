"""``macroquant db backup|restore``: verified pg_dump / pg_restore of MacroQuant's database.

A backup is two files: the dump (``pg_dump --format=custom``) and a sidecar manifest
``<dump>.json`` holding the format version, the applied migration versions, the row count of
every table (taken in the same snapshot as the dump), and the dump's byte size and SHA-256.

A restore verifies everything it can *before* it touches the database: the manifest parses,
size and SHA-256 match, ``pg_restore`` reads the whole archive (its table of contents and,
converting to SQL that is thrown away, every data block), and the backup's
migrations are all known to this code. It then refuses to overwrite a database that already
holds data unless forced, restores in one transaction (a failure leaves the database as it
was), and compares the restored row counts with the manifest. See docs/backup.md.

Passwords never appear on a command line, in the manifest or in a message: they go to
``pg_dump`` / ``pg_restore`` through the ``PGPASSWORD`` environment variable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from macroquant.config.settings import Settings
from macroquant.db.catalog import row_counts
from macroquant.db.connection import connect, database_url, mask_password
from macroquant.db.migrate import MIGRATIONS_DIR, discover_migrations
from macroquant.errors import MacroQuantError

MANIFEST_FORMAT = "macroquant-backup"
MANIFEST_VERSION = 1
_SUBPROCESS_TIMEOUT_S = 6 * 3600
# A restore waiting this long for a lock another session holds is cancelled (and so rolled
# back). A lock_timeout cannot do this: pg_restore's archive preamble sets lock_timeout = 0.
_RESTORE_LOCK_WAIT_S = 60.0
_POLL_S = 0.5
_VERSION = re.compile(r"\(PostgreSQL\)\s+(?P<major>\d+)(?:\.(?P<minor>\d+))?")
# Tables whose rows say nothing about whether a database "holds MacroQuant data": migration
# bookkeeping, and rows the migrations themselves seed (sql/0001 the job catalogue, sql/0008
# the kill switch's single row). tests/db/test_backup.py checks this against sql/*.sql.
BOOKKEEPING_TABLES = frozenset({"schema_migrations", "jobs", "kill_switch"})


class BackupError(MacroQuantError):
    """A backup could not be written, or a restore was refused or failed."""


# --------------------------------------------------------------------------- helpers


def manifest_path(dump_path: Path) -> Path:
    """The sidecar manifest of ``dump_path``: the same name with ``.json`` appended."""
    return dump_path.with_name(dump_path.name + ".json")


def default_backup_path(settings: Settings, now: datetime | None = None) -> Path:
    """``$MACROQUANT_HOME/backups/macroquant-<UTC timestamp>.dump``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return settings.home / "backups" / f"macroquant-{stamp}.dump"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with PGPASSWORD set if there was one)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def _clean(text: str, url: str) -> str:
    """``text`` with the URL's password (and any URL/DSN password) masked."""
    password = conninfo_to_dict(url).get("password")
    if password:
        text = text.replace(str(password), "***")
    return mask_password(text).strip()


def _run(args: list[str], url: str, what: str, env: dict[str, str] | None = None) -> str:
    """Run a PostgreSQL client program; a failure raises BackupError with its stderr."""
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True,
                              timeout=_SUBPROCESS_TIMEOUT_S, check=False)
    except OSError as exc:
        raise BackupError(f"{what}: cannot run {args[0]}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what}: {Path(args[0]).name} did not finish in "
                          f"{_SUBPROCESS_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = _clean(done.stderr or done.stdout or "", url).splitlines()
        detail = "; ".join(lines[-5:]) if lines else f"exit code {done.returncode}"
        raise BackupError(f"{what}: {Path(args[0]).name} failed: {detail}")
    return done.stdout


def _bundled_bindir() -> Path | None:
    """The ``bin`` directory of the PostgreSQL that ships inside pgserver, if installed."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if bindir.is_dir() else None


def _tool_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out)
    return int(match["major"]) if match else None


def find_tool(name: str, server_major: int) -> str:
    """Path of ``pg_dump`` / ``pg_restore`` whose major version is at least the server's.

    Candidates are the binaries bundled with pgserver and the one on ``PATH``; one with the
    server's exact major version is preferred, else the oldest newer one.
    """
    candidates: list[str] = []
    bundled = _bundled_bindir()
    if bundled is not None and (bundled / name).is_file():
        candidates.append(str(bundled / name))
    on_path = shutil.which(name)
    if on_path and on_path not in candidates:
        candidates.append(on_path)
    found = [(major, path) for path in candidates if (major := _tool_major(path)) is not None]
    usable = sorted((major, path) for major, path in found if major >= server_major)
    if not usable:
        seen = ", ".join(f"{path} ({major})" for major, path in found) or "none"
        raise BackupError(
            f"{name} of PostgreSQL {server_major} or newer is needed for this server; found: "
            f"{seen}. Install the PostgreSQL {server_major} client tools and put them on PATH."
        )
    exact = [path for major, path in usable if major == server_major]
    return exact[0] if exact else usable[0][1]


def _server_major(url: str) -> int:
    with connect(url) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def _counts_and_migrations(conn: Any) -> tuple[dict[str, int], list[str]]:
    """Row count of every table and the applied migration versions, on ``conn``."""
    counts = row_counts(conn)
    versions: list[str] = []
    if "schema_migrations" in counts:
        versions = [r[0] for r in conn.execute(
            "SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    return counts, versions


def database_state(url: str) -> tuple[dict[str, int], list[str]]:
    """(row count per table, applied migration versions) of the database at ``url``."""
    with connect(url) as conn:
        return _counts_and_migrations(conn)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory
    finally:
        os.close(fd)


@contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temporary file in ``path``'s directory, removed unless it was renamed away."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _publish(temp: Path, path: Path) -> None:
    """fsync ``temp`` and rename it to ``path`` (atomic on one filesystem)."""
    with temp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(temp, 0o600)
    os.replace(temp, path)
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------- backup


def backup_database(url: str, path: Path) -> dict[str, Any]:
    """Dump the database at ``url`` to ``path`` (custom format) and write its manifest.

    Both files are written to a temporary file beside their target, fsynced and renamed, so
    ``path`` is either absent or a complete dump. Row counts are read in the same snapshot
    that pg_dump dumps, so they match the dump exactly even while the pipeline writes.
    Returns the manifest.
    """
    path = Path(path)
    if path.exists() or manifest_path(path).exists():
        raise BackupError(f"{path} (or its manifest) already exists: choose another file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    server_major = _server_major(url)
    pg_dump = find_tool("pg_dump", server_major)
    conninfo, env = _libpq_target(url)
    with connect(url) as conn, _temp_beside(path) as temp:
        # Hold a repeatable-read snapshot open and hand it to pg_dump: the counts below and
        # the dump then describe the very same state of the database.
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts, versions = _counts_and_migrations(conn)
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        database = conn.info.dbname
        _run([pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot}",
              f"--file={temp}", f"--dbname={conninfo}"], url, "backup", env)
        conn.commit()
        size = temp.stat().st_size
        digest = _sha256(temp)
        _publish(temp, path)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dump_file": path.name,
        "dump_format": "custom",
        "size_bytes": size,
        "sha256": digest,
        "database": database,
        "server_version": server_version,
        "pg_dump_major": _tool_major(pg_dump),
        "schema_migrations": versions,
        "table_counts": counts,
    }
    target = manifest_path(path)
    with _temp_beside(target) as temp:
        temp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _publish(temp, target)
    return manifest


# --------------------------------------------------------------------------- restore


def _watch(proc: subprocess.Popen, url: str, app: str) -> list[int]:
    """Wait for ``proc``; if its backend waits on a lock too long, cancel it and return the
    pids of the sessions that blocked it (else return ``[]``)."""
    with connect(url) as watcher:
        watcher.autocommit = True
        waiting_since: float | None = None
        while proc.poll() is None:
            row = watcher.execute(
                """SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity
                   WHERE application_name = %s AND wait_event_type = 'Lock'""",
                (app,)).fetchone()
            now = time.monotonic()
            if row is None:
                waiting_since = None
            elif waiting_since is None:
                waiting_since = now
            elif now - waiting_since > _RESTORE_LOCK_WAIT_S:
                watcher.execute("SELECT pg_cancel_backend(%s)", (row[0],))
                proc.wait()
                return list(row[1] or [])
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_POLL_S)
    return []


def _run_restore(args: list[str], url: str, what: str, env: dict[str, str]) -> None:
    """Run pg_restore; cancel it if it waits on another session's lock for too long."""
    app = f"macroquant-restore-{uuid.uuid4().hex[:12]}"
    env = {**env, "PGAPPNAME": app}
    # stderr goes to a file: a pipe nobody reads while we poll could fill and block pg_restore
    with tempfile.TemporaryFile(mode="w+") as errors:
        try:
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=errors,
                                    text=True)
        except OSError as exc:
            raise BackupError(f"{what}: cannot run {args[0]}: {exc}") from None
        try:
            blocked_by = _watch(proc, url, app)
        except BaseException:
            proc.kill()  # its single transaction dies with it: nothing is committed
            proc.wait()
            raise
        errors.seek(0)
        stderr = errors.read()
    if blocked_by:
        raise BackupError(
            f"{what}: waited more than {_RESTORE_LOCK_WAIT_S:g} s for a lock held by other "
            f"sessions (pids {', '.join(map(str, blocked_by))}); stop the Airflow scheduler "
            "and the dashboard, then retry")
    if proc.returncode != 0:
        lines = _clean(stderr, url).splitlines()
        detail = "; ".join(lines[-5:]) if lines else f"exit code {proc.returncode}"
        raise BackupError(f"{what}: {Path(args[0]).name} failed: {detail}")


def read_manifest(path: Path) -> dict[str, Any]:
    """Load and shape-check the manifest of the dump at ``path``."""
    target = manifest_path(path)
    if not target.is_file():
        raise BackupError(f"{target}: manifest not found; a backup is the dump plus its .json "
                          "manifest, written by `macroquant db backup`")
    try:
        manifest = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{target}: manifest is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{target}: not a MacroQuant backup manifest")
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise BackupError(f"{target}: manifest format_version {manifest.get('format_version')!r}"
                          f" is not supported (this MacroQuant reads {MANIFEST_VERSION})")
    checks = {"size_bytes": int, "sha256": str, "schema_migrations": list, "table_counts": dict}
    for key, kind in checks.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise BackupError(f"{target}: field '{key}' is missing or not a {kind.__name__}")
    return manifest


def verify_backup(path: Path, pg_restore: str, migrations_dir: Path = MIGRATIONS_DIR
                  ) -> dict[str, Any]:
    """Check a backup without touching any database; return its manifest.

    Verified: the manifest parses; the dump's size and SHA-256 match it; ``pg_restore --list``
    reads the archive's table of contents and ``pg_restore --file=/dev/null`` reads every
    data block; every migration in the backup is one this code knows.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: backup file not found")
    manifest = read_manifest(path)
    size = path.stat().st_size
    if size != manifest["size_bytes"]:
        raise BackupError(f"{path}: size {size} bytes differs from the manifest's "
                          f"{manifest['size_bytes']}: the file is truncated or was changed")
    digest = _sha256(path)
    if digest != manifest["sha256"]:
        raise BackupError(f"{path}: SHA-256 {digest[:16]}… differs from the manifest's "
                          f"{str(manifest['sha256'])[:16]}…: the file is corrupt or was changed")
    # --list reads only the table of contents; a full conversion to SQL (thrown away, no
    # database involved) reads and decompresses every data block, so truncation or damage
    # anywhere in the archive is found here rather than half-way through a restore.
    _run([pg_restore, "--list", f"--file={os.devnull}", str(path)], "",
         f"{path}: not a readable pg_dump archive")
    _run([pg_restore, f"--file={os.devnull}", str(path)], "",
         f"{path}: not a readable pg_dump archive (damaged data)")
    known = {m.version for m in discover_migrations(migrations_dir)}
    unknown = sorted(set(map(str, manifest["schema_migrations"])) - known)
    if unknown:
        raise BackupError(f"{path}: made by a newer MacroQuant (migrations {', '.join(unknown)} "
                          "are unknown here); upgrade MacroQuant before restoring it")
    return manifest


def restore_database(url: str, path: Path, *, force: bool = False,
                     migrations_dir: Path = MIGRATIONS_DIR) -> dict[str, Any]:
    """Restore the backup at ``path`` into the database at ``url``.

    Refuses, before changing anything, if the backup fails :func:`verify_backup`, if the
    target holds data (any row outside migration bookkeeping and the rows migrations seed) and ``force`` is false, or if
    the target has migrations the backup lacks. The restore runs ``pg_restore --clean
    --if-exists --single-transaction``: it either completes or leaves the database as it was.

    Returns a report: ``restored`` (bool), ``table_counts`` (after), ``mismatches`` (tables
    whose count differs from the manifest: ``{table: [expected, actual]}``) and ``manifest``.
    """
    path = Path(path)
    server_major = _server_major(url)
    pg_restore = find_tool("pg_restore", server_major)
    manifest = verify_backup(path, pg_restore, migrations_dir)
    before, target_versions = database_state(url)
    rows = {table: n for table, n in before.items() if n and table not in BOOKKEEPING_TABLES}
    if rows and not force:
        busiest = ", ".join(f"{t}={n}" for t, n in sorted(rows.items(), key=lambda x: -x[1])[:5])
        raise BackupError(f"the target database already holds MacroQuant data ({busiest}); "
                          "restore into an empty database, or pass --force to replace it")
    extra = sorted(set(target_versions) - set(map(str, manifest["schema_migrations"])))
    if extra:
        raise BackupError(f"the target database has migrations {', '.join(extra)} that the "
                          "backup lacks; restore into a freshly created, empty database, then "
                          "run `macroquant db migrate`")
    conninfo, env = _libpq_target(url)
    _run_restore([pg_restore, "--clean", "--if-exists", "--single-transaction", "--no-owner",
                  "--exit-on-error", "--no-password", f"--dbname={conninfo}", str(path)],
                 url, f"restore of {path} (rolled back: the database is unchanged)", env)
    after, _ = database_state(url)
    expected = {str(k): int(v) for k, v in manifest["table_counts"].items()}
    mismatches = {table: [expected.get(table), after.get(table)]
                  for table in sorted(set(expected) | set(after))
                  if expected.get(table) != after.get(table)}
    return {"restored": True, "replaced_data": bool(rows), "table_counts": after,
            "mismatches": mismatches, "manifest": manifest}


# --------------------------------------------------------------------------- CLI


def backup_command(settings: Settings, path: Path | None = None) -> tuple[int, str]:
    """``macroquant db backup [FILE]``: (exit code, text to print)."""
    target = Path(path) if path else default_backup_path(settings)
    try:
        url = database_url(settings)
        manifest = backup_database(url, target)
    except MacroQuantError as exc:
        return 1, f"error: {exc}"
    rows = sum(manifest["table_counts"].values())
    migrations = ", ".join(manifest["schema_migrations"]) or "none"
    return 0, (f"backup written: {target} ({manifest['size_bytes']:,} bytes, sha256 "
               f"{manifest['sha256'][:16]}…)\nmanifest: {manifest_path(target)}\n"
               f"{len(manifest['table_counts'])} tables, {rows:,} rows, migrations {migrations}, "
               f"from {mask_password(url)}")


def restore_command(settings: Settings, path: Path, force: bool = False) -> tuple[int, str]:
    """``macroquant db restore FILE [--force]``: (exit code, text to print).

    Exit code 1 if the restore was refused or failed (the database is then unchanged), or if
    the restored row counts differ from the manifest's.
    """
    try:
        url = database_url(settings)
        report = restore_database(url, Path(path), force=force)
    except MacroQuantError as exc:
        return 1, f"error: {exc}"
    rows = sum(report["table_counts"].values())
    head = (f"restored {path} into {mask_password(url)}: {len(report['table_counts'])} tables, "
            f"{rows:,} rows" + (" (existing data replaced)" if report["replaced_data"] else ""))
    if report["mismatches"]:
        lines = [f"  {table}: manifest {exp}, restored {got}"
                 for table, (exp, got) in report["mismatches"].items()]
        return 1, "error: " + head + "\nrow counts differ from the manifest:\n" + "\n".join(lines)
    return 0, head + "\nrow counts match the manifest for every table"
