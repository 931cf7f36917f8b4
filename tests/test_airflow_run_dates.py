"""``macroquant airflow-run`` records its Airflow run with the time it really ran.

``DAG.test`` stamps a run's start with its logical date, so the demo's run over 2013 history
showed in the Airflow UI as lasting 13 years. The runner now records the wall-clock start.

Airflow runs in the runner's child process, pointed at this test's own AIRFLOW_HOME (the
child migrates its SQLite database on first use); this process never imports Airflow, so
it cannot clash with the Airflow configuration of tests/test_dags.py in the same worker.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

from tests.airflow_fixtures import _airflow_vars
from tests.airflow_fixtures import pipeline_env_fixture as pipeline_env_fixture  # noqa: F401


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_run_is_recorded_with_its_real_start_and_end(pipeline_env, tmp_path: Path):
    from macroquant.airflow_runner import run_dag_window

    home = tmp_path / "airflow"
    home.mkdir()
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
               **_airflow_vars(home)}
    before = datetime.now(UTC)
    assert run_dag_window("macroquant_daily", date(2012, 10, 5), date(2012, 10, 5),
                          environ=environ) == 0
    after = datetime.now(UTC)
    with sqlite3.connect(home / "airflow.db") as db:
        run_id, logical, started, ended = db.execute(
            "SELECT run_id, logical_date, start_date, end_date FROM dag_run "
            "WHERE dag_id = 'macroquant_daily'").fetchone()
    assert run_id == "manual__2012-10-05T00:00:00+00:00"  # still deterministic
    assert _utc(logical) == datetime(2012, 10, 5, tzinfo=UTC)
    assert before <= _utc(started) <= _utc(ended) <= after
    assert (_utc(ended) - _utc(started)).total_seconds() < 600  # not years
