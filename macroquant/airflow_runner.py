"""Run one Airflow DAG over a window, in-process, without a scheduler (``macroquant airflow-run``).

This is ``airflow dags test`` with two differences that matter for MacroQuant:

* The run is deterministic: its logical date is the window end (midnight UTC) and its
  ``run_after`` is the same instant, so its Airflow run id is
  ``manual__<end>T00:00:00+00:00`` every time (``airflow dags test`` stamps ``run_after``
  with the wall clock, giving a new run id, hence a new MacroQuant run id, on each call).
  Running the same window again replaces the previous Airflow run of that logical date
  (``DAG.test`` clears and deletes it) and, the stages being idempotent, leaves the same
  rows in MacroQuant's tables.
* Retries are switched off: an interactive run fails at the first error instead of
  waiting out the retry delays; fix the cause and run the same command again.
* The run is recorded with the time it really started: ``DAG.test`` stamps the run's
  ``start_date`` with its logical date, so a run over 2013 history would show in the
  Airflow UI as lasting 13 years.

The work happens in a child process (``python -m macroquant.airflow_runner``) so that
Airflow's configuration and logging never touch the calling process. The parent prints a
line per finished task and writes Airflow's full output to
``$AIRFLOW_HOME/logs/airflow-run/<dag>__<start>__<end>.log`` (or streams it with
``verbose=True``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from unittest import mock

from pluggy import HookimplMarker

from macroquant.airflow_local import airflow_environment
from macroquant.pipeline.runner import DEGRADED_MARK, EXIT_DEGRADED

# Airflow's listener hook marker (``airflow.listeners.hookimpl`` is this marker); made
# here so that the parent process does not import Airflow.
hookimpl = HookimplMarker("airflow")

PROGRESS_MARK = "@@macroquant-progress "


def logical_date_for(end: date) -> datetime:
    """The logical date of the run covering a window ending on ``end``."""
    return datetime(end.year, end.month, end.day, tzinfo=UTC)


def log_path_for(env: dict[str, str], dag_id: str, start: date, end: date) -> Path:
    """Where the full Airflow output of a window's run is written."""
    return (Path(env["AIRFLOW_HOME"]) / "logs" / "airflow-run"
            / f"{dag_id}__{start.isoformat()}__{end.isoformat()}.log")


def _describe(event: dict[str, Any], elapsed: float) -> str:
    if event["event"] == "task":
        rows = event.get("rows")
        detail = ", ".join(f"{k}={v}" for k, v in rows.items()) if isinstance(rows, dict) \
            else (str(rows) if rows is not None else "")
        if event["state"] != "success":
            detail = event.get("error") or ""
        return f"  {event['state']:<8} {event['task_id']:<15} {elapsed:6.1f}s  {detail}"
    if event["event"] == "run":
        states = event.get("tasks", {})
        not_run = [t for t, s in states.items() if s not in ("success", "failed")]
        tail = f"; not run: {', '.join(not_run)}" if not_run else ""
        return f"Airflow run {event['run_id']}: {event['state']}{tail}"
    return f"  {event.get('message', event)}"


def run_dag_window(
    dag_id: str, start: date, end: date, *, verbose: bool = False,
    environ: dict[str, str] | None = None,
) -> int:
    """Run ``dag_id`` once over ``start``..``end``; return 0 if the DAG run succeeded.

    Prints one line per finished task (with the rows it wrote, or its error) and writes
    Airflow's own output to a log file, streamed as well with ``verbose``. Returns 0 if the
    DAG run succeeded, 1 if it failed, 2 if it could not be set up (bad window, unknown
    DAG, DAG import errors), 3 if it was degraded (every stage ran but some work was not
    done: the last task failed listing the reasons). The first elapsed time includes Airflow's start-up (~5 s).
    """
    if end < start:
        print(f"error: window end {end} is before its start {start}", file=sys.stderr)
        return 2
    # Airflow never runs a task whose logical date is in the future (DAG.test would wait
    # forever), so refuse such a window up front. A guard on input, not pipeline logic.
    if logical_date_for(end) > datetime.now(UTC):
        print(f"error: window end {end} is in the future", file=sys.stderr)
        return 2
    env = airflow_environment(environ)
    log_path = log_path_for(env, dag_id, start, end)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "macroquant.airflow_runner", dag_id,
               start.isoformat(), end.isoformat()]
    print(f"Airflow: {dag_id} over {start}..{end}, logical date "
          f"{logical_date_for(end).isoformat()} (full log: {log_path})", flush=True)
    started = last = time.monotonic()
    task_failed = False
    failures: list[str] = []
    with log_path.open("w", encoding="utf-8") as log, subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(PROGRESS_MARK):
                now = time.monotonic()
                event = json.loads(line[len(PROGRESS_MARK):])
                if event["event"] == "task" and event["state"] != "success":
                    task_failed = True
                    failures.append(str(event.get("error") or ""))
                print(_describe(event, now - last), flush=True)
                last = now
                continue
            log.write(line)
            if verbose:
                print(line, end="", flush=True)
        code = child.wait()
    code = run_exit_code(code, failures)
    print(f"finished in {time.monotonic() - started:.1f}s (exit code {code})", flush=True)
    if code != 0 and not verbose and not task_failed:
        # not a task's failure (reported above) but Airflow's own: show how it ended
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        print("\n".join(["--- end of the Airflow log ---", *lines[-30:]]), file=sys.stderr)
    elif code != 0:
        print(f"the failed task's traceback is in {log_path}", file=sys.stderr)
    return code


def run_exit_code(child_code: int, failures: list[str]) -> int:
    """The child's exit code, or ``EXIT_DEGRADED`` when the only failures are the last
    task's "run degraded" (every stage ran; some work was not done)."""
    if child_code == 1 and failures and all(DEGRADED_MARK in error for error in failures):
        return EXIT_DEGRADED
    return child_code


# ----- child process ------------------------------------------------------------------

def _progress_writer() -> IO[str]:
    """A stream to the child's real stdout that Airflow's logging setup cannot redirect."""
    return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)


def _emit(out: IO[str], **event: Any) -> None:
    out.write(PROGRESS_MARK + json.dumps(event, default=str) + "\n")
    out.flush()


class _ProgressListener:
    """Airflow listener announcing each finished task instance on the progress stream."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def _rows(self, task_instance: Any) -> Any:
        try:
            return task_instance.xcom_pull(task_ids=task_instance.task_id)
        except Exception:  # progress is best effort; the run's outcome does not depend on it
            return None

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        _emit(self.out, event="task", task_id=task_instance.task_id, state="success",
              rows=self._rows(task_instance))

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any,
                                error: Any) -> None:
        _emit(self.out, event="task", task_id=task_instance.task_id, state="failed",
              error=f"{type(error).__name__}: {error}" if isinstance(error, BaseException)
              else str(error or ""))


@contextlib.contextmanager
def recorded_start(started: datetime) -> Iterator[None]:
    """While active, a run that ``DAG.test`` creates starts at ``started`` (the wall-clock
    time the command began) instead of at its logical date."""
    from airflow.models import dagrun

    create = dagrun.get_or_create_dagrun

    def create_started_now(**kwargs: Any) -> Any:
        return create(**{**kwargs, "start_date": started})

    with mock.patch.object(dagrun, "get_or_create_dagrun", create_started_now):
        yield


def _child_main(dag_id: str, start: date, end: date) -> int:
    out = _progress_writer()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.listener import get_listener_manager
    from airflow.utils.db import check_migrations, upgradedb

    try:
        check_migrations(timeout=1)
    except TimeoutError:
        _emit(out, event="note", message="migrating Airflow's metadata database first")
        upgradedb()

    bag = DagBag()
    dag = bag.dags.get(dag_id)
    if dag is None:
        errors = "; ".join(f"{path}: {err.strip().splitlines()[-1]}"
                           for path, err in bag.import_errors.items())
        _emit(out, event="note", message=f"DAG {dag_id!r} not found in {bag.dag_folder}"
              + (f" (import errors: {errors})" if errors else ""))
        return 2
    for task in dag.tasks:
        task.retries = 0

    get_listener_manager().add_listener(_ProgressListener(out))

    when = logical_date_for(end)
    # the wall clock only stamps when the run began (Airflow's record), never a trading date
    with recorded_start(datetime.now(UTC)):
        dag_run = dag.test(logical_date=when, run_after=when,
                           run_conf={"start": start.isoformat(), "end": end.isoformat()})
    found = {ti.task_id: str(getattr(ti.state, "value", ti.state))
             for ti in dag_run.get_task_instances()}
    states = {task_id: found.get(task_id, "none") for task_id in dag.task_ids}
    state = str(getattr(dag_run.state, "value", dag_run.state))
    _emit(out, event="run", run_id=dag_run.run_id, state=state, tasks=states)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    _dag_id, _start, _end = sys.argv[1:4]
    sys.exit(_child_main(_dag_id, date.fromisoformat(_start), date.fromisoformat(_end)))
