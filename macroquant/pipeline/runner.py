"""Runs stages and records each run in ``pipeline_runs``.

The same functions serve the Airflow tasks (``dags/``), the CLI and the tests.

Crash-only: before a stage starts, every ``running`` row whose process is gone is marked
``interrupted`` (:func:`macroquant.pipeline.liveness.mark_interrupted_runs`); while the
stage runs, its process holds the liveness lock named in its row. A stage ended by an
exception is ``failed``; one ended by ``KeyboardInterrupt``/``SystemExit`` (Ctrl-C, a task
terminated by Airflow) is ``interrupted`` at once; one ended by SIGKILL or a restart is
found by the next run or ``macroquant status``. Stages are idempotent, so rerunning the
window resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import import_module

import psycopg
from psycopg.types.json import Jsonb

from macroquant.config.settings import Settings, load_settings
from macroquant.db.connection import transaction
from macroquant.pipeline.book import check_book_configuration
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.liveness import (
    StageLiveness,
    mark_interrupted_runs,
    process_identity,
)
from macroquant.pipeline.logs import write_system_log
from macroquant.pipeline.stages import STAGES
from macroquant.security.masking import mask_text

log = logging.getLogger(__name__)


StageFunction = Callable[[StageContext], dict[str, int]]


def stage_function(stage: str) -> StageFunction:
    """The ``run(context)`` function of ``macroquant.pipeline.<stage>``."""
    if stage not in STAGES:
        raise KeyError(f"unknown stage '{stage}'; stages are: {', '.join(STAGES)}")
    return import_module(f"macroquant.pipeline.{stage}").run


def default_run_id(start: date, end: date) -> str:
    """A deterministic run id for a CLI run of a window (Airflow passes its own)."""
    return f"cli__{start.isoformat()}__{end.isoformat()}"


def audit_time() -> datetime:
    """The wall time for run records. Audit metadata only: no stage logic reads it."""
    return datetime.now(UTC)


def record_run(conn: psycopg.Connection, run_id: str, stage: str, start: date, end: date,
               status: str, started_at: datetime, finished_at: datetime | None = None,
               rows: dict[str, int] | None = None, liveness_key: int | None = None) -> None:
    """Insert or replace the ``pipeline_runs`` row of (``run_id``, ``stage``), with this
    process's pid and host and the key of the liveness lock it holds (if any)."""
    pid, host = process_identity()
    conn.execute(
        """INSERT INTO pipeline_runs (run_id, stage, window_start, window_end, status,
                                      started_at, finished_at, rows_written, message, pid,
                                      host, liveness_key)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '', %s, %s, %s)
           ON CONFLICT (run_id, stage) DO UPDATE SET
               window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
               status = EXCLUDED.status, started_at = EXCLUDED.started_at,
               finished_at = EXCLUDED.finished_at, rows_written = EXCLUDED.rows_written,
               message = '', pid = EXCLUDED.pid, host = EXCLUDED.host,
               liveness_key = EXCLUDED.liveness_key""",
        (run_id, stage, start, end, status, started_at, finished_at, Jsonb(rows or {}), pid,
         host, liveness_key))


def mark_interrupted(url: str, run_id: str | None = None, *, echo: bool = True) -> list:
    """Mark the ``running`` rows of dead processes ``interrupted`` (one WARNING in
    ``system_logs`` each, under ``run_id``, and on this module's logger when ``echo``);
    return them (see :func:`macroquant.pipeline.liveness.mark_interrupted_runs`)."""
    with transaction(url) as conn:
        found = mark_interrupted_runs(conn)
        for run in found:
            write_system_log(conn, "WARNING", "macroquant.pipeline.runner",
                             f"{run.run_id} {run.stage}: {run.message}", run_id,
                             {"interrupted_run": run.run_id, "stage": run.stage})
            if echo:
                log.warning("%s %s: %s", run.run_id, run.stage, run.message)
    return found


def run_stage(
    stage: str, start: date, end: date, run_id: str, settings: Settings | None = None
) -> dict[str, int]:
    """Run one stage over ``start``..``end`` and record it; return rows written per table."""
    context = StageContext(settings or load_settings(), start, end, run_id)
    function = stage_function(stage)
    with StageLiveness(context.url) as liveness:
        mark_interrupted(context.url, run_id)
        with transaction(context.url) as conn:
            record_run(conn, run_id, stage, start, end, "running", audit_time(),
                       liveness_key=liveness.key)
        return _run_recorded(function, context, stage)


def _run_recorded(function: StageFunction, context: StageContext,
                  stage: str) -> dict[str, int]:
    """Check the strategy folder against the trading configuration (before the stage
    writes anything), run ``function`` and record how it ended on its ``running`` row."""
    run_id, start, end = context.run_id, context.start, context.end
    try:
        check_book_configuration(context.settings)
        rows = function(context)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        with transaction(context.url) as conn:
            conn.execute(
                """UPDATE pipeline_runs SET status = 'failed', finished_at = %s, message = %s
                   WHERE run_id = %s AND stage = %s""",
                (audit_time(), mask_text(message)[:2000], run_id, stage),
            )
            write_system_log(conn, "ERROR", f"macroquant.pipeline.{stage}", message, run_id,
                             {"window_start": start.isoformat(), "window_end": end.isoformat()})
        raise
    except BaseException as exc:  # Ctrl-C, SystemExit, a task terminated by Airflow
        with transaction(context.url) as conn:
            conn.execute(
                """UPDATE pipeline_runs SET status = 'interrupted', finished_at = %s,
                          message = %s WHERE run_id = %s AND stage = %s""",
                (audit_time(), f"interrupted by {type(exc).__name__} while this stage ran; "
                 f"rerun the window {start}..{end} to resume", run_id, stage))
        raise
    record_finished(context.url, run_id, stage, rows)
    log.info("stage %s %s..%s: %s", stage, start, end, rows)
    return rows


# Counts in a stage's result that mean part of its work was NOT done. A stage whose result
# has any of them above zero finished "degraded": recorded as such (never 'success'), the
# pipeline goes on to the reports, and the CLI / the DAG's last task make the run fail.
DEGRADING_COUNTS = {
    "failed_strategies": "strategy(ies) raised, so gave no signals",
    "unsent": "order(s) left unsent (the broker could not be reached; looked up and sent "
              "by the next run)",
    "unknown": "order(s) accepted by the broker with fills unread (the next run looks "
               "them up)",
    "conflicts": "order(s) whose client id the broker uses for a different order "
                 "(not adopted; instrument locked)",
    "locked": "instrument(s) locked by reconciliation (macroquant orders locks / unlock)",
    "refused": "instrument(s) the broker cannot trade (refused before sending)",
}


# The exit code of `macroquant run daily|backfill` and `airflow-run` for a degraded run,
# and how the DAG's last task starts its failure message for one.
EXIT_DEGRADED = 3
DEGRADED_MARK = "run degraded"


def degraded_reasons(rows: dict[str, int]) -> list[str]:
    """Why a stage's result is degraded (empty: it did all its work)."""
    return [f"{rows[key]} {text}" for key, text in DEGRADING_COUNTS.items()
            if int(rows.get(key) or 0) > 0]


def record_finished(url: str, run_id: str, stage: str, rows: dict[str, int]) -> None:
    """Record a stage that returned: ``success``, or ``degraded`` with its reasons in
    ``message`` (and a WARNING in ``system_logs``)."""
    reasons = degraded_reasons(rows)
    message = "; ".join(reasons)
    with transaction(url) as conn:
        conn.execute(
            """UPDATE pipeline_runs SET status = %s, finished_at = %s, rows_written = %s,
                      message = %s WHERE run_id = %s AND stage = %s""",
            ("degraded" if reasons else "success", audit_time(), Jsonb(rows), message,
             run_id, stage))
        if reasons:
            write_system_log(conn, "WARNING", f"macroquant.pipeline.{stage}",
                             f"stage {stage} degraded: {message}", run_id, dict(rows))


def degraded_stages(url: str, run_id: str) -> dict[str, str]:
    """Stage -> reasons, for every stage of ``run_id`` recorded ``degraded``."""
    with transaction(url) as conn:
        return dict(conn.execute(
            """SELECT stage, message FROM pipeline_runs WHERE run_id = %s
               AND status = 'degraded' ORDER BY started_at""", (run_id,)).fetchall())


def run_pipeline(
    start: date,
    end: date,
    run_id: str,
    settings: Settings | None = None,
    on_stage: Callable[[str, dict[str, int]], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Run all eight stages in order over the window; stops at the first failing stage."""
    results: dict[str, dict[str, int]] = {}
    for stage in STAGES:
        results[stage] = run_stage(stage, start, end, run_id, settings)
        if on_stage is not None:
            on_stage(stage, results[stage])
    return results
