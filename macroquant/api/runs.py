"""Pipeline runs requested through the API.

``POST /runs`` writes a ``run_requests`` row (status ``queued``) and hands its id to the
app's run executor. The default executor, :func:`execute_request`, runs in the API process
as a FastAPI background task (after the response is sent): it runs all eight stages with
:func:`macroquant.pipeline.runner.run_pipeline` under the run id ``api-<request id>``, so
each stage is also recorded in ``pipeline_runs``, and sets the request to ``success`` or
``failed`` with the error message. Only one request may be queued or running at a time.

A deployment under Airflow may prefer an executor that triggers the ``macroquant_daily``
DAG instead; ``create_app(run_executor=...)`` takes any ``Callable[[int], None]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

import psycopg

from macroquant.calendars import session_on_or_before
from macroquant.config.settings import Settings
from macroquant.db.connection import transaction
from macroquant.errors import MacroQuantError
from macroquant.security.masking import mask_text

log = logging.getLogger(__name__)


class RunBusyError(MacroQuantError):
    """Another API-requested run is queued or running."""


class RunWindowError(MacroQuantError):
    """The requested window cannot be run (it ends after today)."""


def create_request(conn: psycopg.Connection, *, start: date, end: date | None, actor: str,
                   at: datetime) -> int:
    """Record a queued run request; return its id. A single day runs the last session on
    or before it (as ``macroquant run daily``); a window ending after ``at``'s date is refused."""
    if (end or start) > at.date():
        raise RunWindowError(f"the window ends on {end or start}, after today ({at.date()}): "
                             "only past sessions can be run")
    if end is None or end == start:
        start = end = session_on_or_before(start)
    conn.execute("LOCK TABLE run_requests IN SHARE ROW EXCLUSIVE MODE")
    busy = conn.execute("SELECT request_id FROM run_requests WHERE status IN "
                        "('queued', 'running') ORDER BY request_id LIMIT 1").fetchone()
    if busy is not None:
        raise RunBusyError(f"run request {busy[0]} is still queued or running; wait for it "
                           "(GET /runs/requests)")
    request_id = conn.execute(
        """INSERT INTO run_requests (requested_by, requested_at, window_start, window_end,
                                     run_id, status)
           VALUES (%s, %s, %s, %s, '', 'queued') RETURNING request_id""",
        (actor, at, start, end)).fetchone()[0]
    conn.execute("UPDATE run_requests SET run_id = %s WHERE request_id = %s",
                 (f"api-{request_id}", request_id))
    return request_id


def execute_request(settings: Settings, url: str, clock: Callable[[], datetime],
                    request_id: int) -> None:
    """Run the pipeline for one request and record the outcome on its row."""
    from macroquant.pipeline.preflight import preflight
    from macroquant.pipeline.runner import run_pipeline

    with transaction(url) as conn:
        start, end, run_id = conn.execute(
            """UPDATE run_requests SET status = 'running' WHERE request_id = %s
               RETURNING window_start, window_end, run_id""", (request_id,)).fetchone()
    status, message = "success", ""
    try:
        preflight(settings, start, end, today=clock().date(), url=url)  # before any write
        run_pipeline(start, end, run_id, settings)
    except Exception as exc:  # recorded on the request row and in pipeline_runs/system_logs
        status, message = "failed", mask_text(f"{type(exc).__name__}: {exc}")[:2000]
        log.error("run request %s (%s) failed: %s", request_id, run_id, message)
    with transaction(url) as conn:
        conn.execute("""UPDATE run_requests SET status = %s, finished_at = %s, message = %s
                        WHERE request_id = %s""", (status, clock(), message, request_id))
