"""DAG policy tests and end-to-end Airflow runs of ``macroquant_daily``.

Airflow reads its configuration when it is first imported, so nothing here imports it at
module level: the ``airflow_env`` fixture first points AIRFLOW_HOME at a temporary home
whose SQLite metadata database was migrated once per pytest process (each xdist worker
has its own), then Airflow is imported. The environment is restored after this module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import psycopg
import pytest

from macroquant.calendars import sessions
from macroquant.pipeline.runner import STAGES
from tests.airflow_fixtures import (  # noqa: F401  (fixtures: airflow_home, airflow_env, ...)
    AIRFLOW_BIN,
    DAGS_DIR,
    airflow_env_fixture,
    airflow_home_fixture,
    pipeline_env_fixture,
)

DAILY_FILE = DAGS_DIR / "macroquant_daily.py"
START, END = date(2012, 10, 1), date(2012, 10, 5)
HEAVY_MODULES = ("pandas", "numpy", "psycopg", "psycopg2", "pgserver", "exchange_calendars",
                 "talib", "great_expectations", "macroquant")


@pytest.fixture(scope="module")
def dagbag(airflow_env: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="module")
def daily(dagbag: Any) -> Any:
    return dagbag.dags["macroquant_daily"]


@pytest.fixture(scope="module")
def daily_module(airflow_env: Path) -> ModuleType:
    """The DAG file imported as a plain module, to test its helper functions."""
    spec = importlib.util.spec_from_file_location("_macroquant_daily_dag", DAILY_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pipeline_runs(url: str) -> dict[str, dict[str, tuple[str, date, date]]]:
    """run_id -> stage -> (status, window_start, window_end), runs of the DAG only."""
    out: dict[str, dict[str, tuple[str, date, date]]] = {}
    with psycopg.connect(url) as conn:
        for run_id, stage, status, ws, we in conn.execute(
                "SELECT run_id, stage, status, window_start, window_end FROM pipeline_runs "
                "WHERE run_id LIKE 'macroquant_daily__%'"):
            out.setdefault(run_id, {})[stage] = (status, ws, we)
    return out


def _run_daily(daily: Any, end: date, conf: dict[str, str]) -> Any:
    when = datetime(end.year, end.month, end.day, tzinfo=UTC)
    return daily.test(logical_date=when, run_after=when, run_conf=conf)


def _states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state))
            for ti in dag_run.get_task_instances()}


# ----- policy ---------------------------------------------------------------------------

def test_every_dag_file_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    files = sorted(p.name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
    loaded = sorted({Path(d.fileloc).name for d in dagbag.dags.values()})
    assert files and loaded == files  # every file defines at least one DAG
    assert "macroquant_daily" in dagbag.dags


def test_every_dag_has_tags_docs_owner_and_retries(dagbag: Any) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md.strip()) > 50, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} owner"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} timeout"


def test_every_dag_is_in_the_jobs_catalogue_with_its_schedule(dagbag: Any, db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        jobs = dict(conn.execute("SELECT dag_id, schedule FROM jobs").fetchall())
    dags = {dag_id: dag.timetable.expression for dag_id, dag in dagbag.dags.items()}
    assert dags == {dag_id: jobs.get(dag_id) for dag_id in dags}
    assert set(jobs) == set(dags)


def test_daily_schedule_and_params(daily: Any) -> None:
    assert daily.timetable.expression == "0 22 * * 1-5"
    assert daily.catchup is False and daily.max_active_runs == 1
    assert set(daily.tags) == {"macroquant", "daily"}
    assert daily.params["start"] is None and daily.params["end"] is None
    assert daily.start_date is None  # history before any start_date must stay runnable


@pytest.mark.parametrize("bad", ["2012-13-45", "yesterday", "2012/10/05"])
def test_window_params_only_accept_iso_dates(daily: Any, bad: str) -> None:
    from airflow.sdk import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(daily.params)
    params.update({"start": "2012-10-01", "end": "2012-10-05"})
    params.validate()
    with pytest.raises(ParamValidationError, match="is not a 'date'"):
        params.update({"end": bad})  # ParamsDict validates on assignment
        params.validate()


def test_daily_is_resolve_window_then_the_stages_in_a_chain(daily: Any, daily_module) -> None:
    assert daily_module.STAGES == STAGES
    expected = ["resolve_window", *STAGES]
    assert [t.task_id for t in daily.topological_sort()] == expected
    for upstream, downstream in zip(expected, expected[1:], strict=False):
        assert daily.get_task(downstream).upstream_task_ids == {upstream}
    assert daily.get_task("resolve_window").upstream_task_ids == set()
    assert daily.get_task("reports").downstream_task_ids == set()


def test_intraday_refreshes_publishes_then_slices(dagbag: Any) -> None:
    intraday = dagbag.dags["macroquant_intraday"]
    assert intraday.timetable.expression == "*/15 * * * *"
    assert intraday.catchup is False and intraday.max_active_runs == 1
    assert set(intraday.tags) == {"macroquant", "intraday"}
    expected = ["refresh_bars", "publish_bars", "execution_slices"]
    assert [t.task_id for t in intraday.topological_sort()] == expected
    for upstream, downstream in zip(expected, expected[1:], strict=False):
        assert intraday.get_task(downstream).upstream_task_ids == {upstream}


def test_parsing_the_dag_file_does_no_heavy_work(airflow_env: Path) -> None:
    """Import the file in a fresh interpreter with sockets blocked; record what it loads."""
    probe = f"""
import importlib.util, json, socket, sys, time
attempts = []
def refuse(self, address, *args):
    attempts.append(repr(address))
    raise OSError("network blocked by test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
import airflow.sdk  # the file's own import: not counted
before = set(sys.modules)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", {str(DAILY_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({{"seconds": time.perf_counter() - started, "attempts": attempts,
                  "new": sorted(set(sys.modules) - before)}}))
"""
    result = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # the stage list lives in an import-free module; nothing else of macroquant may load
    allowed = {"macroquant", "macroquant.pipeline", "macroquant.pipeline.stages"}
    heavy = [m for m in report["new"]
             if m.split(".")[0] in HEAVY_MODULES and m not in allowed]
    assert heavy == []
    assert "macroquant.pipeline.stages" in report["new"]
    assert report["attempts"] == []


# ----- window resolution ----------------------------------------------------------------

def _run(data_interval_end=None, logical_date=None, run_after=None) -> SimpleNamespace:
    return SimpleNamespace(data_interval_end=data_interval_end, logical_date=logical_date,
                           run_after=run_after or data_interval_end or logical_date)


@pytest.mark.parametrize(("dag_run", "expected"), [
    # scheduled Monday 22:00 UTC = 18:00 New York (summer): Monday's session
    (_run(datetime(2024, 6, 3, 22, 0, tzinfo=UTC)), date(2024, 6, 3)),
    # triggered Monday 14:00 UTC = 10:00 New York, before the close: Friday's session
    (_run(run_after=datetime(2024, 6, 3, 14, 0, tzinfo=UTC)), date(2024, 5, 31)),
    # winter: 21:30 UTC = 16:30 EST is after the close, 20:30 UTC = 15:30 EST before it
    (_run(datetime(2024, 1, 8, 21, 30, tzinfo=UTC)), date(2024, 1, 8)),
    (_run(datetime(2024, 1, 8, 20, 30, tzinfo=UTC)), date(2024, 1, 5)),
    # no logical date (manual run on a Saturday): run_after decides; Friday's session
    (_run(run_after=datetime(2024, 6, 8, 10, 0, tzinfo=UTC)), date(2024, 6, 7)),
    # 4 July is a holiday: the session before it
    (_run(datetime(2024, 7, 4, 22, 0, tzinfo=UTC)), date(2024, 7, 3)),
    # data_interval_end wins over an interval-start logical date (CronDataIntervalTimetable)
    (_run(datetime(2024, 6, 4, 22, 0, tzinfo=UTC), datetime(2024, 6, 3, 22, 0, tzinfo=UTC)),
     date(2024, 6, 4)),
])
def test_default_window_is_the_last_closed_session(daily_module, dag_run, expected) -> None:
    assert daily_module.default_session(dag_run) == expected


def test_run_id_is_derived_from_the_airflow_run_id(daily_module) -> None:
    assert daily_module.sanitize_run_id("macroquant_daily", "manual__2012-10-05T00:00:00+00:00") \
        == "macroquant_daily__manual__2012-10-05T00:00:00+00:00"
    assert daily_module.sanitize_run_id("d", "odd run/id") == "d__odd_run_id"


def test_local_airflow_environment_keeps_port_and_execution_api_together() -> None:
    from macroquant.airflow_local import local_environment

    env = local_environment(8099, {"PATH": "/usr/bin", "MACROQUANT_HOME": "/srv/mq",
                                   "AIRFLOW__CORE__PARALLELISM": "8"})
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["AIRFLOW__API__PORT"] == "8099"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8099/execution/"
    assert env["AIRFLOW_HOME"] == "/srv/mq/airflow"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_DIR)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"  # the user's setting wins
    assert env["PATH"].split(os.pathsep) == [str(AIRFLOW_BIN.parent), "/usr/bin"]


# ----- end to end -----------------------------------------------------------------------

def test_dag_test_runs_the_window_and_a_rerun_reuses_the_run(daily, pipeline_env) -> None:
    url = pipeline_env.database_url
    conf = {"start": START.isoformat(), "end": END.isoformat()}
    first = _run_daily(daily, END, conf)
    assert first.state == "success", _states(first)
    assert set(_states(first).values()) == {"success"} and len(_states(first)) == 9
    run_id = f"macroquant_daily__{first.run_id}"
    runs = _pipeline_runs(url)
    assert list(runs) == [run_id]
    assert runs[run_id] == {stage: ("success", START, END) for stage in STAGES}
    with psycopg.connect(url) as conn:
        orders = conn.execute("SELECT count(*) FROM orders WHERE as_of BETWEEN %s AND %s",
                              (START, END)).fetchone()[0]
        perf = [r[0] for r in conn.execute(
            "SELECT as_of FROM performance WHERE scope = 'portfolio' AND as_of BETWEEN %s AND %s"
            " ORDER BY as_of", (START, END))]
    assert orders > 0
    assert perf == sessions(START, END)

    second = _run_daily(daily, END, conf)  # the same logical date: Airflow replaces the run
    assert second.state == "success" and second.run_id == first.run_id
    assert _pipeline_runs(url) == runs
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM orders WHERE as_of BETWEEN %s AND %s",
                            (START, END)).fetchone()[0] == orders


def test_bad_input_fails_the_preflight_without_retry_and_nothing_runs(
        daily, pipeline_env, monkeypatch, tmp_path) -> None:
    bad = tmp_path / "macroquant.yaml"
    bad.write_text(Path(pipeline_env.config_path).read_text() + "\nnot_a_setting: 1\n")
    monkeypatch.setenv("MACROQUANT_CONFIG", str(bad))
    dag_run = _run_daily(daily, date(2012, 10, 12), {"start": "2012-10-08", "end": "2012-10-12"})
    assert dag_run.state == "failed"
    states = _states(dag_run)
    # resolve_window's pre-flight failed outright (AirflowFailException, not up_for_retry)
    # before any stage wrote a row
    assert [t for t, s in states.items() if s == "failed"] == ["resolve_window"]
    assert all(states[t] == "upstream_failed" for t in STAGES)
    assert f"macroquant_daily__{dag_run.run_id}" not in _pipeline_runs(
        pipeline_env.database_url)


def test_airflow_run_command_exit_codes(airflow_env, pipeline_env, monkeypatch, capsys) -> None:
    from macroquant.airflow_runner import run_dag_window

    assert run_dag_window("macroquant_daily", END, START) == 2
    assert run_dag_window("macroquant_daily", START, END) == 0
    printed = capsys.readouterr().out
    assert all(f"success  {stage}" in printed for stage in ["resolve_window", *STAGES])
    runs = _pipeline_runs(pipeline_env.database_url)
    assert set(runs) == {"macroquant_daily__manual__2012-10-05T00:00:00+00:00"}
    # a task failing for an unexpected reason (reports cannot write its file) fails the run
    blocker = Path(pipeline_env.home) / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("MACROQUANT_REPORTS_DIR", str(blocker))
    assert run_dag_window("macroquant_daily", START, END) == 1
    assert "failed   reports" in capsys.readouterr().out


def test_the_last_task_fails_when_a_stage_of_the_run_was_degraded(daily_module, db_url,
                                                                  monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from macroquant.pipeline.runner import record_run

    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    daily_module._fail_if_degraded("r1")                 # nothing degraded: no failure
    with psycopg.connect(db_url) as conn:
        record_run(conn, "r1", "orders", START, START, "degraded",
                   datetime(2012, 10, 1, tzinfo=UTC))
        conn.execute("UPDATE pipeline_runs SET message = '2 order(s) left unsent'")
    with pytest.raises(AirflowFailException,
                       match=r"^run degraded: orders: 2 order\(s\) left unsent$"):
        daily_module._fail_if_degraded("r1")


def test_airflow_run_exits_3_only_when_the_run_was_degraded():
    from macroquant.airflow_runner import run_exit_code

    degraded = "AirflowFailException: run degraded: orders: 2 order(s) left unsent"
    assert run_exit_code(1, [degraded]) == 3
    assert run_exit_code(1, [degraded, "AirflowFailException: risk: no targets"]) == 1
    assert run_exit_code(1, []) == 1 and run_exit_code(0, []) == 0
