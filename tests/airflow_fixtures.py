"""Airflow fixtures for tests/test_dags.py: a migrated metadata database in a temporary
AIRFLOW_HOME, the environment pointing Airflow at it, and MACROQUANT_* variables pointing
tasks at a test database.

Airflow reads its configuration when it is first imported, so nothing here imports it:
``airflow_env`` sets the environment first. Everything is restored afterwards.

The fixtures are registered by name (``name=``) so that a test module can import them
under their function names without shadowing its test arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO / "dags"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"


def _airflow_vars(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


def _clean_environ(home: Path) -> dict[str, str]:
    """os.environ without any Airflow setting of the user's, plus the test home's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return {**env, **_airflow_vars(home)}


@pytest.fixture(scope="session", name="airflow_home")
def airflow_home_fixture() -> Iterator[Path]:
    """A temporary AIRFLOW_HOME with a migrated metadata database (``airflow db migrate``),
    once per pytest process: each xdist worker has its own."""
    # Not under pytest's basetemp, which concurrent pytest sessions prune (see conftest.py).
    home = Path(tempfile.mkdtemp(prefix="mq-test-airflow-"))
    try:
        result = subprocess.run([str(AIRFLOW_BIN), "db", "migrate"], env=_clean_environ(home),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module", name="airflow_env")
def airflow_env_fixture(airflow_home: Path) -> Iterator[Path]:
    """This module's environment: Airflow pointed at ``airflow_home``; restored afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("AIRFLOW")]:
            mp.delenv(key)
        for key, value in _airflow_vars(airflow_home).items():
            mp.setenv(key, value)
        if "airflow.settings" in sys.modules:
            conn = getattr(sys.modules["airflow.settings"], "SQL_ALCHEMY_CONN", "")
            if str(airflow_home) not in str(conn):
                pytest.fail("Airflow was imported by an earlier test with another "
                            f"configuration ({conn}); import it lazily in tests")
        yield airflow_home


@pytest.fixture(name="pipeline_env")
def pipeline_env_fixture(loaded_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """MACROQUANT_* variables pointing the tasks at the ``loaded_settings`` database."""
    for key in [k for k in os.environ if k.startswith("MACROQUANT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MACROQUANT_HOME", str(loaded_settings.home))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_settings.database_url)
    monkeypatch.setenv("MACROQUANT_CONFIG", str(loaded_settings.config_path))
    monkeypatch.setenv("MACROQUANT_STRATEGIES_DIR", str(loaded_settings.strategies_dir))
    monkeypatch.setenv("MACROQUANT_REPORTS_DIR", str(loaded_settings.reports_dir))
    return loaded_settings
