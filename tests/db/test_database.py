"""Migrations, COPY upserts and connection errors on real PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from macroquant.db.bulk import read_frame, upsert_rows
from macroquant.db.connection import connect, mask_password
from macroquant.db.migrate import MIGRATIONS_DIR, discover_migrations, migrate
from macroquant.errors import DatabaseUnavailableError, MigrationError


def test_migrate_is_idempotent_and_recorded(db_url):
    assert migrate(db_url) == []  # the template is migrated already
    with psycopg.connect(db_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in discover_migrations()]


def test_edited_migration_is_refused(db_url, tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(MIGRATIONS_DIR, copy)
    target = copy / "0001_core_schema.sql"
    target.write_text(target.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(db_url, copy)


def test_new_migration_applies_once(db_url, tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_add_note.sql").write_text("ALTER TABLE jobs ADD COLUMN note text;")
    assert migrate(db_url, copy) == ["9999"]
    assert migrate(db_url, copy) == []


def test_upsert_leaves_unchanged_rows_alone(db_url):
    rows = pd.DataFrame({"source_id": ["s1", "s2"], "kind": ["economic", "economic"],
                         "adapter": ["sample", "sample"], "description": ["a", "b"]})
    with psycopg.connect(db_url) as conn:
        assert upsert_rows(conn, "data_sources", rows, ["source_id"],
                           ["kind", "adapter", "description"]) == 2
        assert upsert_rows(conn, "data_sources", rows, ["source_id"],
                           ["kind", "adapter", "description"]) == 0
        rows.loc[1, "description"] = "changed"
        assert upsert_rows(conn, "data_sources", rows, ["source_id"],
                           ["kind", "adapter", "description"]) == 1
        stored = read_frame(conn, "SELECT source_id, description FROM data_sources ORDER BY 1")
    assert stored["description"].tolist() == ["a", "changed"]


def test_password_is_masked():
    assert mask_password("postgresql://bob:s3cret@db:5432/mq") == "postgresql://bob:***@db:5432/mq"
    assert mask_password("host=db password=s3cret dbname=mq") == "host=db password=*** dbname=mq"
    assert mask_password("postgresql://bob@db/mq") == "postgresql://bob@db/mq"


def test_unreachable_database_message_names_url_without_password():
    with pytest.raises(DatabaseUnavailableError) as error:
        connect("postgresql://trader:topsecret@127.0.0.1:1/macroquant")
    message = str(error.value)
    assert "postgresql://trader:***@127.0.0.1:1/macroquant" in message
    assert "topsecret" not in message
