"""MacroQuant's daily pipeline as an Airflow DAG: wiring only.

All logic lives in ``macroquant.pipeline``; it is imported inside the tasks so that parsing
this file (which the dag-processor does every few seconds) stays cheap: no pandas, no
database driver, no connection.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Param, dag, task

# The stage order; this module has no imports of its own (importing the runner would pull
# in psycopg and pandas at parse time).
from macroquant.pipeline.stages import STAGES

# The exchange whose sessions the pipeline trades, and when its regular session closes.
EXCHANGE_TZ = ZoneInfo("America/New_York")
EXCHANGE_CLOSE = time(16, 0)

DOC_MD = """
### MacroQuant daily pipeline

One run processes a window of XNYS trading sessions through the eight stages, each a task
calling `macroquant.pipeline.runner.run_stage`:

`resolve_window` → `ingest` → `validate` → `features` → `signals` → `portfolio` → `risk`
→ `orders` → `reports`

Tasks exchange only the window (two dates and a run id) through XCom; every stage reads its
inputs from and writes its outputs to MacroQuant's PostgreSQL, keyed by date, and is
idempotent: clearing and rerunning a task or the latest run changes nothing if the inputs
did not change. (Rerunning an older window while the paper account has later days is
refused, with a message naming the range to rerun.)

**Params** (both optional, ISO dates `YYYY-MM-DD`):

* `start`, `end`: the window to process. If only one is given, the window is that single
  day. If neither is given (scheduled runs), the window is the last XNYS session that had
  closed at the run's data interval end (for runs without a logical date: when the run was
  triggered).

The schedule (22:00 UTC, Monday to Friday) falls after the 16:00 New York close all year.
A stage that finds bad data (quarantined bars, an invalid strategy file, a risk gate) fails
without retrying; only unexpected or database errors are retried. A stage that finished but
left work undone (orders unsent, instruments locked or refused by the broker, a strategy
that raised) is recorded `degraded` in `pipeline_runs`; the run goes on to `reports`, which
then fails with the reasons, so the DAG run is not green.

The MacroQuant run id recorded in `pipeline_runs` is `macroquant_daily__<Airflow run id>`.
"""


def sanitize_run_id(dag_id: str, airflow_run_id: str) -> str:
    """MacroQuant's run id for an Airflow run: ``<dag_id>__<run_id>``, safe characters only."""
    return re.sub(r"[^A-Za-z0-9_.:+-]", "_", f"{dag_id}__{airflow_run_id}")[:200]


def last_closed_day(reference: datetime) -> date:
    """The latest calendar day whose 16:00 New York close is at or before ``reference``.

    The caller snaps it to the session on or before it. Early-close days are treated like
    full days, which only matters for manual runs triggered in the afternoon of one.
    """
    local = reference.astimezone(EXCHANGE_TZ)
    return local.date() if local.time() >= EXCHANGE_CLOSE else local.date() - timedelta(days=1)


def reference_time(dag_run: Any) -> datetime:
    """The instant a run is "as of".

    Airflow 3 schedules a cron string with ``CronTriggerTimetable``: a scheduled run's
    logical date *is* its trigger time and its data interval is the single point
    (logical date, logical date). ``data_interval_end`` is therefore the trigger time here
    and stays correct if the DAG is ever switched to ``CronDataIntervalTimetable`` (where
    the logical date is the *start* of the interval, one weekday early). Runs triggered
    without a logical date (allowed in Airflow 3) have no data interval either; they use
    ``run_after``, the moment they were triggered, which every run has.
    """
    return dag_run.data_interval_end or dag_run.logical_date or dag_run.run_after


def default_session(dag_run: Any) -> date:
    """The XNYS session a run without a window processes: the last one closed at its
    reference time."""
    from macroquant.calendars import session_on_or_before

    return session_on_or_before(last_closed_day(reference_time(dag_run)))


def _stage_task(stage: str):
    """A TaskFlow task running one MacroQuant stage over the resolved window.

    The window is pulled from ``resolve_window`` (always upstream through the chain) rather
    than passed as an argument, so that the graph stays a plain chain of stages.
    """

    @task(task_id=stage)
    def run(**context: Any) -> dict[str, int]:
        from airflow.sdk.exceptions import AirflowFailException

        from macroquant.errors import DatabaseUnavailableError, MacroQuantError
        from macroquant.pipeline.runner import run_stage

        window = context["ti"].xcom_pull(task_ids="resolve_window")
        start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
        try:
            rows = run_stage(stage, start, end, window["run_id"])
        except DatabaseUnavailableError:
            raise  # possibly transient: let Airflow retry
        except MacroQuantError as exc:
            # Bad data or configuration gives the same answer on every try: fail now.
            text = str(exc)  # most stage errors already start with the stage's name
            raise AirflowFailException(text if text.startswith(f"{stage}:")
                                       else f"{stage}: {text}") from exc
        if stage == STAGES[-1]:
            _fail_if_degraded(window["run_id"])
        return rows

    return run


def _fail_if_degraded(run_id: str) -> None:
    """The last task fails (its rows committed) when any stage of the run was recorded
    ``degraded``, so that the DAG run is not green; the message lists the reasons."""
    from airflow.sdk.exceptions import AirflowFailException

    from macroquant.config.settings import load_settings
    from macroquant.db.connection import database_url
    from macroquant.pipeline.runner import DEGRADED_MARK, degraded_stages

    degraded = degraded_stages(database_url(load_settings()), run_id)
    if degraded:
        raise AirflowFailException(f"{DEGRADED_MARK}: " + " | ".join(
            f"{stage}: {reasons}" for stage, reasons in degraded.items()))


@dag(
    dag_id="macroquant_daily",
    schedule="0 22 * * 1-5",
    # No start_date on purpose: Airflow creates no task instance for a logical date before
    # a task's start_date, and MacroQuant replays history back to 1999 (airflow-run).
    catchup=False,
    max_active_runs=1,
    tags=["macroquant", "daily"],
    doc_md=DOC_MD,
    default_args={
        "owner": "macroquant",
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "start": Param(None, type=["null", "string"], format="date",
                       description="first day of the window (YYYY-MM-DD); empty: see end"),
        "end": Param(None, type=["null", "string"], format="date",
                     description="last day of the window (YYYY-MM-DD); empty: last closed "
                                 "session"),
    },
)
def macroquant_daily() -> None:
    """resolve_window, then the eight stages in order."""

    @task
    def resolve_window(**context: Any) -> dict[str, str]:
        """The window {start, end, run_id} this run processes (ISO dates)."""
        from airflow.sdk.exceptions import AirflowFailException

        from macroquant.config.settings import load_settings
        from macroquant.errors import DatabaseUnavailableError
        from macroquant.pipeline.preflight import PreflightError, preflight

        params, dag_run = context["params"], context["dag_run"]
        start_text, end_text = params.get("start"), params.get("end")
        if start_text or end_text:
            start = date.fromisoformat(start_text or end_text)
            end = date.fromisoformat(end_text or start_text)
        else:
            start = end = default_session(dag_run)
        try:
            # the run's own reference time is its clock: a window after it is refused
            preflight(load_settings(), start, end, today=reference_time(dag_run).date())
        except DatabaseUnavailableError:
            raise  # possibly transient: let Airflow retry
        except PreflightError as exc:
            raise AirflowFailException(f"pre-flight: {exc}") from exc
        return {"start": start.isoformat(), "end": end.isoformat(),
                "run_id": sanitize_run_id(dag_run.dag_id, dag_run.run_id)}

    previous = resolve_window()
    for stage in STAGES:
        current = _stage_task(stage)()
        previous >> current
        previous = current


macroquant_daily()
