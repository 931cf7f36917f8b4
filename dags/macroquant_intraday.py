"""MacroQuant's intraday DAG: refresh the latest bars of active instruments during market
hours, publish them through validation, and run due execution slices. Wiring only.

All logic lives in ``macroquant.pipeline.intraday`` (bars) and ``macroquant.execution``
(slices); they are imported inside the tasks so parsing this file stays cheap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

DOC_MD = """
### MacroQuant intraday refresh

Every 15 minutes:

`refresh_bars` → `publish_bars` → `execution_slices`

* **refresh_bars** fetches the session-to-date bar of every *active* instrument (one with
  a non-zero latest target) whose exchange is open at the run's time, on that instrument's
  own exchange calendar (a crypto exchange trades every day; XNYS only 9:30–16:00 New York
  on its sessions). Outside market hours it does nothing. Vendor failures are logged to
  `system_logs` and shown by `macroquant status`; the other instruments still refresh.
* **publish_bars** runs the `validate` stage for the session, so refreshed bars reach
  `market_data` through the same write-audit-publish gate as the daily run (a quarantined
  row fails this task, not silently).
* **execution_slices** sends the TWAP/VWAP child orders that are due at the run's time,
  through the risk gate (see docs/execution.md).

The daily DAG (`macroquant_daily`, 22:00 UTC) re-ingests the final bar of the day.
"""


def run_time(dag_run: Any) -> datetime:
    """The instant a run refreshes "as of" (timezone-aware): its trigger time."""
    return dag_run.data_interval_end or dag_run.logical_date or dag_run.run_after


@dag(
    dag_id="macroquant_intraday",
    schedule="*/15 * * * *",
    catchup=False,
    max_active_runs=1,
    tags=["macroquant", "intraday"],
    doc_md=DOC_MD,
    default_args={
        "owner": "macroquant",
        "retries": 1,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(minutes=10),
    },
)
def macroquant_intraday() -> None:
    """refresh_bars, then publish_bars, then execution_slices."""

    @task
    def refresh_bars(**context: Any) -> dict[str, Any]:
        """Refresh active instruments' session bars; returns counts and the sessions."""
        from macroquant.config.settings import load_settings
        from macroquant.pipeline.intraday import open_sessions, refresh_latest_bars

        as_of = run_time(context["dag_run"])
        settings = load_settings()
        counts = refresh_latest_bars(settings, as_of)
        return {"as_of": as_of.isoformat(), "counts": counts,
                "sessions": [day.isoformat() for day in open_sessions(settings, as_of)]}

    @task
    def publish_bars(refreshed: dict[str, Any], **context: Any) -> dict[str, int]:
        """Validate and publish what was staged for each open session."""
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from macroquant.errors import DatabaseUnavailableError, MacroQuantError
        from macroquant.pipeline.runner import run_stage

        if not refreshed["counts"].get("rows"):
            return {"published_sessions": 0}
        run_id = f"macroquant_intraday__{context['dag_run'].run_id}"
        try:
            for day in refreshed["sessions"]:
                session = date.fromisoformat(day)
                run_stage("validate", session, session, run_id)
        except DatabaseUnavailableError:
            raise
        except MacroQuantError as exc:
            raise AirflowFailException(f"validate: {exc}") from exc
        return {"published_sessions": len(refreshed["sessions"])}

    @task
    def execution_slices(published: dict[str, int], **context: Any) -> dict[str, int]:
        """Send the execution-algorithm slices due now (each through the risk gate)."""
        from macroquant.config.settings import load_settings
        from macroquant.execution.algos import run_due_slices

        return run_due_slices(load_settings(), run_time(context["dag_run"]))

    execution_slices(publish_bars(refresh_bars()))


macroquant_intraday()
