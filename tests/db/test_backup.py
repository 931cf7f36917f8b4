"""`macroquant db backup|restore` on real PostgreSQL: round trip, and refusals that leave the
target database untouched (corrupt, truncated or tampered backups; a non-empty target).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from macroquant.db.backup import (
    BOOKKEEPING_TABLES,
    BackupError,
    backup_command,
    backup_database,
    database_state,
    manifest_path,
    restore_command,
    restore_database,
)
from macroquant.db.migrate import MIGRATIONS_DIR
from tests.conftest import make_settings

# Tables whose full contents are compared after a round trip.
CHECKSUM_TABLES = ("instruments", "market_data", "economic_series", "schema_migrations")


def content_digest(url: str, table: str) -> str:
    """SHA-256 of a table's rows as text, in a fixed order."""
    query = sql.SQL("SELECT t::text FROM {} AS t ORDER BY 1").format(sql.Identifier(table))
    digest = hashlib.sha256()
    with psycopg.connect(url) as conn:
        for (row,) in conn.execute(query):
            digest.update(row.encode() + b"\n")
    return digest.hexdigest()


def snapshot(url: str) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts of every table and content digests of a few: what "untouched" means."""
    counts, _ = database_state(url)
    return counts, {t: content_digest(url, t) for t in CHECKSUM_TABLES if t in counts}


@pytest.fixture
def backup_file(loaded_db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "backups" / "mq.dump"
    backup_database(loaded_db_url, path)
    return path


def test_backup_writes_dump_and_manifest(loaded_db_url: str, backup_file: Path):
    manifest = json.loads(manifest_path(backup_file).read_text())
    assert manifest["format"] == "macroquant-backup" and manifest["format_version"] == 1
    assert manifest["size_bytes"] == backup_file.stat().st_size
    assert manifest["sha256"] == hashlib.sha256(backup_file.read_bytes()).hexdigest()
    assert backup_file.read_bytes()[:5] == b"PGDMP"  # custom-format archive
    counts, versions = database_state(loaded_db_url)
    assert manifest["table_counts"] == counts
    assert manifest["schema_migrations"] == versions and versions[0] == "0001"
    created = {m for path in MIGRATIONS_DIR.glob("*.sql")
               for m in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", path.read_text())}
    assert created | {"schema_migrations"} <= set(counts)
    assert counts["market_data"] > 0 and counts["instruments"] > 0
    # nothing but the two files is left behind (no temporary files)
    assert sorted(p.name for p in backup_file.parent.iterdir()) == ["mq.dump", "mq.dump.json"]


def test_backup_refuses_to_overwrite(loaded_db_url: str, backup_file: Path):
    before = backup_file.read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        backup_database(loaded_db_url, backup_file)
    assert backup_file.read_bytes() == before


def test_round_trip_into_a_fresh_database(loaded_db_url: str, backup_file: Path,
                                          empty_db_url: str):
    report = restore_database(empty_db_url, backup_file)
    assert report["restored"] and report["mismatches"] == {}
    assert not report["replaced_data"]
    assert snapshot(empty_db_url) == snapshot(loaded_db_url)
    assert report["table_counts"]["market_data"] > 0


def test_round_trip_into_a_migrated_empty_database(loaded_db_url: str, backup_file: Path,
                                                   db_url: str):
    report = restore_database(db_url, backup_file)
    assert report["mismatches"] == {}
    assert snapshot(db_url) == snapshot(loaded_db_url)


@pytest.mark.parametrize("damage", ["flip_middle", "truncate"])
def test_corrupt_backup_is_refused_before_touching_the_database(
        backup_file: Path, db_url: str, loaded_db_url: str, damage: str):
    data = bytearray(backup_file.read_bytes())
    if damage == "flip_middle":
        middle = len(data) // 2
        for i in range(middle, middle + 16):
            data[i] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    backup_file.write_bytes(bytes(data))
    for target in (db_url, loaded_db_url):  # an empty and a full database, even with force
        before = snapshot(target)
        with pytest.raises(BackupError, match="corrupt|truncated"):
            restore_database(target, backup_file, force=True)
        assert snapshot(target) == before


@pytest.mark.parametrize("damage", ["flip_middle", "truncate"])
def test_corrupt_archive_with_matching_manifest_is_refused_by_pg_restore(
        backup_file: Path, db_url: str, damage: str):
    """Even with a manifest rewritten to match, reading the archive finds the damage."""
    data = bytearray(backup_file.read_bytes())
    if damage == "truncate":
        damaged = bytes(data[: len(data) // 3])
    else:
        middle = len(data) // 2
        data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
        damaged = bytes(data)
    backup_file.write_bytes(damaged)
    manifest_file = manifest_path(backup_file)
    manifest = json.loads(manifest_file.read_text())
    manifest.update(size_bytes=len(damaged), sha256=hashlib.sha256(damaged).hexdigest())
    manifest_file.write_text(json.dumps(manifest))
    before = snapshot(db_url)
    with pytest.raises(BackupError, match="not a readable pg_dump archive"):
        restore_database(db_url, backup_file, force=True)
    assert snapshot(db_url) == before


def test_manifest_hash_mismatch_is_refused(backup_file: Path, db_url: str):
    manifest_file = manifest_path(backup_file)
    manifest = json.loads(manifest_file.read_text())
    manifest["sha256"] = "0" * 64
    manifest_file.write_text(json.dumps(manifest))
    before = snapshot(db_url)
    with pytest.raises(BackupError, match="SHA-256"):
        restore_database(db_url, backup_file)
    assert snapshot(db_url) == before


@pytest.mark.parametrize("problem", ["missing", "not_json", "wrong_format"])
def test_bad_manifest_is_refused(backup_file: Path, db_url: str, problem: str):
    manifest_file = manifest_path(backup_file)
    if problem == "missing":
        manifest_file.unlink()
    elif problem == "not_json":
        manifest_file.write_text("{not json")
    else:
        manifest_file.write_text(json.dumps({"format": "something-else"}))
    before = snapshot(db_url)
    with pytest.raises(BackupError, match="manifest"):
        restore_database(db_url, backup_file)
    assert snapshot(db_url) == before


def test_backup_from_newer_migrations_is_refused(backup_file: Path, db_url: str,
                                                 tmp_path: Path):
    manifest_file = manifest_path(backup_file)
    manifest = json.loads(manifest_file.read_text())
    manifest["schema_migrations"].append("9999")
    manifest_file.write_text(json.dumps(manifest))
    before = snapshot(db_url)
    with pytest.raises(BackupError, match="newer MacroQuant.*9999"):
        restore_database(db_url, backup_file)
    assert snapshot(db_url) == before
    assert not (MIGRATIONS_DIR / "9999").exists()


def test_non_empty_target_needs_force(db_url: str, loaded_db_url: str, tmp_path: Path):
    # back up the *empty* database and try to restore it over the loaded one
    path = tmp_path / "empty.dump"
    backup_database(db_url, path)
    before = snapshot(loaded_db_url)
    with pytest.raises(BackupError, match="already holds MacroQuant data.*--force"):
        restore_database(loaded_db_url, path)
    assert snapshot(loaded_db_url) == before

    report = restore_database(loaded_db_url, path, force=True)
    assert report["replaced_data"] and report["mismatches"] == {}
    assert snapshot(loaded_db_url) == snapshot(db_url)
    assert report["table_counts"]["market_data"] == 0


def test_force_restore_replaces_changed_data(loaded_db_url: str, backup_file: Path):
    original = snapshot(loaded_db_url)
    with psycopg.connect(loaded_db_url) as conn:
        conn.execute("DELETE FROM market_data WHERE ctid IN "
                     "(SELECT ctid FROM market_data LIMIT 10)")
    assert snapshot(loaded_db_url) != original
    report = restore_database(loaded_db_url, backup_file, force=True)
    assert report["mismatches"] == {}
    assert snapshot(loaded_db_url) == original


def test_password_is_not_stored_or_shown(loaded_db_url: str, tmp_path: Path):
    """The manifest holds no connection details beyond the database name."""
    path = tmp_path / "mq.dump"
    backup_database(loaded_db_url, path)
    text = manifest_path(path).read_text()
    assert "postgresql://" not in text and "host" not in json.loads(text)
    assert json.loads(text)["database"] == conninfo_to_dict(loaded_db_url)["dbname"]


def test_cli_commands(loaded_db_url: str, empty_db_url: str, tmp_path: Path):
    source = make_settings(tmp_path / "home", loaded_db_url)
    code, text = backup_command(source, None)
    assert code == 0, text
    written = list((tmp_path / "home" / "backups").glob("macroquant-*.dump"))
    assert len(written) == 1 and str(written[0]) in text

    target = make_settings(tmp_path / "home2", empty_db_url)
    code, text = restore_command(target, written[0], False)
    assert code == 0, text
    assert "match the manifest" in text
    code, text = restore_command(target, written[0], False)
    assert code == 1 and text.startswith("error:") and "--force" in text
    code, text = restore_command(target, written[0], True)
    assert code == 0, text

    written[0].write_bytes(written[0].read_bytes()[:100])
    code, text = restore_command(target, written[0], True)
    assert code == 1 and "truncated" in text


def test_password_goes_through_the_environment_not_argv(loaded_db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    """pg_dump / pg_restore get the password as PGPASSWORD; argv and files never hold it."""
    import subprocess

    import macroquant.db.backup as backup

    secret = f"pw-{uuid.uuid4().hex}"  # made at run time: no password literal in git
    url = f"{loaded_db_url} password={secret}"  # the test server trusts local connections
    calls: list[tuple[list[str], dict[str, str] | None]] = []
    real_run = subprocess.run

    def spy(args, **kwargs):
        calls.append((list(args), kwargs.get("env")))
        return real_run(args, **kwargs)

    real_popen = subprocess.Popen

    def popen_spy(args, **kwargs):
        calls.append((list(args), kwargs.get("env")))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(backup.subprocess, "run", spy)
    monkeypatch.setattr(backup.subprocess, "Popen", popen_spy)
    path = tmp_path / "pw.dump"
    backup_database(url, path)
    restore_database(url, path, force=True)
    tools = [(args, env) for args, env in calls if "--version" not in args]
    assert any(Path(args[0]).name == "pg_dump" for args, _ in tools)
    assert any(Path(args[0]).name == "pg_restore" and "--clean" in args for args, _ in tools)
    for args, env in tools:
        assert not any(secret in arg for arg in args)
        if any(arg.startswith("--dbname=") for arg in args):
            assert env is not None and env["PGPASSWORD"] == secret
    assert secret not in manifest_path(path).read_text()


def test_error_messages_mask_the_password():
    from macroquant.db.backup import _clean

    url = "postgresql://bob:hunter2@db.example/mq"
    text = _clean("connection to db failed for postgresql://bob:hunter2@db/mq: hunter2", url)
    assert "hunter2" not in text and "***" in text


def test_failed_restore_rolls_back(loaded_db_url: str, db_url: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch):
    """A restore that fails part-way (here: a lock it cannot get) leaves the target as it was."""
    import macroquant.db.backup as backup

    path = tmp_path / "empty.dump"
    backup_database(db_url, path)
    monkeypatch.setattr(backup, "_RESTORE_LOCK_WAIT_S", 1.0)
    before = snapshot(loaded_db_url)
    with psycopg.connect(loaded_db_url) as holder:
        holder.execute("SELECT count(*) FROM positions")  # holds a lock until rollback
        with pytest.raises(BackupError, match="rolled back.*waited more than 1 s for a lock"):
            restore_database(loaded_db_url, path, force=True)
        holder.rollback()
    assert snapshot(loaded_db_url) == before


def test_every_table_a_migration_seeds_counts_as_bookkeeping():
    seeded = {match.group(1) for path in sorted(MIGRATIONS_DIR.glob("*.sql"))
              for match in re.finditer(r"^\s*INSERT INTO (\w+)", path.read_text(),
                                       re.MULTILINE | re.IGNORECASE)}
    assert seeded and seeded <= BOOKKEEPING_TABLES, seeded - BOOKKEEPING_TABLES
