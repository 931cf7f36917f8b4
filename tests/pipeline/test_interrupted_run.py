"""Crash-only runs: a real pipeline process killed with SIGKILL in the middle of a stage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg

from macroquant.cli import main
from macroquant.pipeline.runner import mark_interrupted, run_pipeline
from tests.conftest import _clone, make_settings
from tests.pipeline.test_pipeline import snapshot

START, END = date(2012, 10, 1), date(2012, 10, 5)
RUN_ID = "cli__2012-10-01__2012-10-05"

# Runs the whole window; inside the portfolio stage, once `targets` is copied (the stage's
# transaction is open and has deleted and written rows), it says so and hangs.
HANGING_RUN = textwrap.dedent("""
    import sys, time
    from datetime import date
    from pathlib import Path
    import macroquant.pipeline.portfolio as portfolio
    from macroquant.pipeline.runner import run_pipeline

    real_copy = portfolio.copy_rows

    def copy_then_hang(conn, table, frame, columns):
        written = real_copy(conn, table, frame, columns)
        if table == "targets":
            Path(sys.argv[1]).write_text("inside portfolio")
            time.sleep(600)
        return written

    portfolio.copy_rows = copy_then_hang
    run_pipeline(date(2012, 10, 1), date(2012, 10, 5), sys.argv[2])
""")


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the pipeline process never reached portfolio"
        time.sleep(0.2)


def _statuses(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("""SELECT stage, status, message FROM pipeline_runs
                               WHERE run_id = %s""", (RUN_ID,)).fetchall()
    return {stage: (status, message) for stage, status, message in rows}


def _without_interruption_log(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    logs = tables["system_logs"]
    tables["system_logs"] = logs[logs["logger"] != "macroquant.pipeline.runner"] \
        .reset_index(drop=True)
    return tables


def test_a_run_killed_mid_stage_is_marked_interrupted_and_a_rerun_resumes(
        loaded_settings, tmp_path, monkeypatch, capsys, pg_server_url, loaded_template_url):
    url = loaded_settings.database_url
    marker = tmp_path / "inside-portfolio"
    env = {**os.environ, "MACROQUANT_DATABASE_URL": url, "MACROQUANT_HOME": str(tmp_path),
           "MACROQUANT_REPORTS_DIR": str(loaded_settings.reports_dir)}
    process = subprocess.Popen([sys.executable, "-c", HANGING_RUN, str(marker), RUN_ID],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(marker, process)
        # a live process's stage is never marked, whoever looks
        assert mark_interrupted(url) == []
        assert _statuses(url)["portfolio"] == ("running", "")
        assert _statuses(url)["signals"][0] == "success"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert _statuses(url)["portfolio"] == ("running", "")  # nobody has looked yet

    # `macroquant status` finds the dead process and says what happened
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    status, message = _statuses(url)["portfolio"]
    assert status == "interrupted"
    assert message.startswith(f"interrupted: process {process.pid} on ")
    assert "last completed stage of this run: signals" in message
    assert "interrupted stages: 1 (stages are idempotent: rerun the window to resume)" in out
    assert f"{RUN_ID} portfolio 2012-10-01..2012-10-05: interrupted: process " in out
    with psycopg.connect(url) as conn:  # nothing of the killed transaction was committed
        assert conn.execute("SELECT count(*) FROM targets").fetchone()[0] == 0

    # rerunning the window resumes: the same rows as an undisturbed run of it
    run_pipeline(START, END, RUN_ID, loaded_settings)
    assert set(_statuses(url).values()) == {("success", "")}
    resumed = _without_interruption_log(snapshot(url))
    clone = _clone(pg_server_url, loaded_template_url)
    other_url = next(clone)
    try:
        run_pipeline(START, END, RUN_ID, make_settings(loaded_settings.home, other_url))
        undisturbed = snapshot(other_url)
    finally:
        next(clone, None)
    assert resumed.keys() == undisturbed.keys()
    for table in resumed:
        pd.testing.assert_frame_equal(resumed[table], undisturbed[table], obj=table)
    assert len(resumed["orders"]) > 0 and len(resumed["targets"]) > 0


def test_only_stages_whose_lock_is_free_are_dead_and_ctrl_c_marks_at_once(settings,
                                                                         monkeypatch):
    from macroquant.db.connection import transaction
    from macroquant.pipeline import runner
    from macroquant.pipeline.liveness import LIVENESS_NAMESPACE, dead_running_stages
    from macroquant.reports.dashboard_data import last_run, pipeline_runs

    url = settings.database_url
    with transaction(url) as conn:
        for stage, key in (("ingest", 101), ("validate", 102)):
            runner.record_run(conn, "airflow", stage, START, START, "running",
                              runner.audit_time(), liveness_key=key)
    # another session (an Airflow task in another process or host) holds 102's lock
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, 102)", (LIVENESS_NAMESPACE,))
        with psycopg.connect(url, autocommit=True) as reader:
            assert dead_running_stages(reader) == {("airflow", "ingest")}
        (found,) = mark_interrupted(url)
        assert (found.run_id, found.stage) == ("airflow", "ingest")
        assert _statuses_of(url, "airflow") == {"ingest": "interrupted", "validate": "running"}
    with psycopg.connect(url) as conn:  # the dashboard's headline says so
        assert last_run(pipeline_runs(conn))["status"] == "interrupted"

    def stopped_by_ctrl_c(context):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "stage_function", lambda stage: stopped_by_ctrl_c)
    try:
        runner.run_stage("ingest", START, START, "ctrl-c", settings)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("KeyboardInterrupt was swallowed")
    assert _statuses_of(url, "ctrl-c") == {"ingest": "interrupted"}


def _statuses_of(url: str, run_id: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT stage, status FROM pipeline_runs WHERE run_id = %s",
                                 (run_id,)).fetchall())
