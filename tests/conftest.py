"""Shared fixtures: a real PostgreSQL (embedded unless MACROQUANT_TEST_DATABASE_URL is set),
a migrated template database, and a fresh database per test cloned from it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from macroquant.config.settings import INCLUDE_DIR, Settings
from macroquant.db.connection import embedded_server_url, stop_embedded_server
from macroquant.db.migrate import migrate

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

# The history every pipeline test starts from: everything before this date is loaded into
# the "loaded" template once per test session.
SEED_END = date(2012, 9, 28)


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(_with_dbname(url, "postgres"), autocommit=True)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the PostgreSQL server the tests use (a maintenance database on it)."""
    configured = os.environ.get("MACROQUANT_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    # Not under pytest's basetemp: concurrent pytest sessions prune each other's basetemp.
    pgdata = Path(tempfile.mkdtemp(prefix="mq-test-pgdata-"))
    # Started as users' embedded server is, with its settings (wal_level minimal).
    yield embedded_server_url(pgdata)
    stop_embedded_server(pgdata)
    shutil.rmtree(pgdata, ignore_errors=True)


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def template_url(pg_server_url: str) -> str:
    """A freshly migrated database used as the template of each test's database."""
    name = f"mq_tpl_{_worker_suffix()}_{uuid.uuid4().hex[:6]}"
    with _admin(pg_server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_dbname(pg_server_url, name)
    migrate(url)
    return url


@pytest.fixture(scope="session")
def loaded_template_url(pg_server_url: str, template_url: str, tmp_path_factory) -> str:
    """A template holding the bundled sample history up to SEED_END, loaded once."""
    from macroquant.pipeline.ingest import load_sample_history

    name = f"mq_tpl_loaded_{_worker_suffix()}_{uuid.uuid4().hex[:6]}"
    with _admin(pg_server_url) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE "{conninfo_to_dict(template_url)["dbname"]}"'
        )
    url = _with_dbname(pg_server_url, name)
    settings = make_settings(tmp_path_factory.mktemp("seed-home"), url)
    load_sample_history(settings, end=SEED_END)
    return url


def _clone(server_url: str, template: str | None) -> Iterator[str]:
    """A new database copied from ``template`` (or empty, as `createdb` makes it when
    ``template`` is None), dropped afterwards."""
    name = f"mq_test_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{conninfo_to_dict(template)["dbname"]}"' if template else ""
    with _admin(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield _with_dbname(server_url, name)
    finally:
        with _admin(server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_server_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    yield from _clone(pg_server_url, template_url)


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A freshly created database with no tables at all (not migrated)."""
    yield from _clone(pg_server_url, None)


@pytest.fixture
def loaded_db_url(pg_server_url: str, loaded_template_url: str) -> Iterator[str]:
    """A fresh database holding the sample history up to SEED_END, for one test."""
    yield from _clone(pg_server_url, loaded_template_url)


def make_settings(home: Path, url: str, **overrides: object) -> Settings:
    """Settings pointing at ``url`` with state under ``home`` and the shipped configuration."""
    values: dict[str, object] = {
        "home": home,
        "database_url": url,
        "config_path": INCLUDE_DIR / "macroquant.yaml",
        "strategies_dir": INCLUDE_DIR / "strategies",
        "reports_dir": home / "reports",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def loaded_settings(tmp_path: Path, loaded_db_url: str) -> Settings:
    return make_settings(tmp_path, loaded_db_url)
