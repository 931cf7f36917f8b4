"""Crash-only runs: which ``pipeline_runs`` rows at ``running`` belong to a live process.

A stage that is killed (SIGKILL, a timeout, a machine restart) never gets to write its
end, so its row would say ``running`` for good. While a stage runs, its process holds a
PostgreSQL **session advisory lock** ``(LIVENESS_NAMESPACE, liveness_key)`` on a connection
of its own (:class:`StageLiveness`); the key comes from a sequence and is stored in the
row. Whatever ends the process also ends that connection, and the server releases the lock
at once. :func:`mark_interrupted_runs` therefore tests each ``running`` row with
``pg_try_advisory_xact_lock``: a lock it can take belongs to no one, so the row is marked
``interrupted`` (with the pid and host that ran it and the last stage of that run that
completed); a lock it cannot take is held by a live process, wherever it runs.

Why a lock rather than pid + host + heartbeat: Airflow runs the stages of one run in other
processes and, with the Celery executor, on other machines; a pid can only be checked on
its own host (and pids are reused), and a heartbeat needs a thread and a timeout that is
either too short (a long COPY looks dead) or too long (a dead run looks alive). The lock is
exact and immediate, needs no clock, and is released by the server itself. Limits: a
connection pooler in transaction mode (PgBouncer) does not keep session locks, so point
``MACROQUANT_DATABASE_URL`` at PostgreSQL itself; a client that vanishes without its TCP
connection being closed holds the lock until the server's TCP keepalive drops it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from types import TracebackType

import psycopg

from macroquant.pipeline.stages import STAGES

# First key of the two-integer advisory locks ("MQLV"); the one-bigint keys MacroQuant uses
# elsewhere (migrations) are in another lock space.
LIVENESS_NAMESPACE = 0x4D514C56


@dataclass(frozen=True)
class InterruptedRun:
    """A stage row found at ``running`` whose process is gone."""

    run_id: str
    stage: str
    window_start: object
    window_end: object
    pid: int | None
    host: str | None
    last_completed_stage: str | None

    @property
    def message(self) -> str:
        """The one line stored in ``pipeline_runs.message``."""
        who = (f"process {self.pid} on {self.host}" if self.pid is not None
               else "a process started before liveness tracking")
        done = self.last_completed_stage or "none"
        return (f"interrupted: {who} ended while this stage ran (killed, timed out or the "
                f"machine restarted); last completed stage of this run: {done}; rerun "
                f"the window {self.window_start}..{self.window_end} to resume")


class StageLiveness:
    """Hold the liveness lock of one stage run for the duration of a ``with`` block.

    ``key`` is the value to store in ``pipeline_runs.liveness_key``. The lock lives on a
    connection of its own (autocommit), so the stage's transactions cannot release it.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.Connection | None = None
        self.key = 0

    def __enter__(self) -> StageLiveness:
        self._conn = psycopg.connect(self._url, autocommit=True)
        self.key = int(self._conn.execute(
            "SELECT nextval('pipeline_run_liveness_seq')").fetchone()[0])
        self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_NAMESPACE, self.key))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._conn is not None:
            self._conn.close()  # ends the session: the server releases the lock
            self._conn = None


def process_identity() -> tuple[int, str]:
    """(pid, host name) of this process, stored with the row for the message."""
    return os.getpid(), socket.gethostname()


def last_completed_stage(conn: psycopg.Connection, run_id: str) -> str | None:
    """The latest stage (in pipeline order) of ``run_id`` that succeeded."""
    done = {r[0] for r in conn.execute(
        "SELECT stage FROM pipeline_runs WHERE run_id = %s AND status = 'success'",
        (run_id,)).fetchall()}
    ordered = [stage for stage in STAGES if stage in done]
    return ordered[-1] if ordered else None


def mark_interrupted_runs(conn: psycopg.Connection) -> list[InterruptedRun]:
    """Mark every ``running`` row whose process is gone as ``interrupted``; return them.

    Run inside a transaction: the locks taken to test a row are transaction locks, released
    at its end. A row without a ``liveness_key`` was written before this tracking existed
    (by an older version that is no longer running) and is marked too.
    """
    rows = conn.execute("""SELECT run_id, stage, window_start, window_end, pid, host,
                                  liveness_key
                           FROM pipeline_runs WHERE status = 'running'
                           ORDER BY started_at FOR UPDATE""").fetchall()
    found = []
    for run_id, stage, start, end, pid, host, key in rows:
        if key is not None and not conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)",
                (LIVENESS_NAMESPACE, key)).fetchone()[0]:
            continue  # a live process holds it
        run = InterruptedRun(run_id, stage, start, end, pid, host,
                             last_completed_stage(conn, run_id))
        conn.execute("""UPDATE pipeline_runs SET status = 'interrupted', message = %s
                        WHERE run_id = %s AND stage = %s AND status = 'running'
                          AND liveness_key IS NOT DISTINCT FROM %s""",
                     (run.message, run_id, stage, key))
        found.append(run)
    return found


def dead_running_stages(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(run_id, stage) of the ``running`` rows whose process is gone, without marking them
    (for read-only readers such as the dashboard). Each lock is taken and released at once,
    so a live process is never disturbed."""
    rows = conn.execute("""SELECT run_id, stage, liveness_key FROM pipeline_runs
                           WHERE status = 'running'""").fetchall()
    dead = set()
    for run_id, stage, key in rows:
        if key is None:
            dead.add((run_id, stage))
        elif conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                          (LIVENESS_NAMESPACE, key)).fetchone()[0]:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LIVENESS_NAMESPACE, key))
            dead.add((run_id, stage))
    return dead
