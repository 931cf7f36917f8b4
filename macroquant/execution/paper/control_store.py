"""The drawdown and daily-loss controls' I/O: the kill switch's timeline read from
``kill_switch_history``, the controls' ``risk_events`` and the switch moved for each
escalation (:mod:`macroquant.execution.paper.controls` is the pure part)."""

from __future__ import annotations

import json
from datetime import date

import psycopg

from macroquant.execution.paper.controls import (
    CONTROL_CHECKS,
    ControlEvent,
    KillSwitchTimeline,
)
from macroquant.risk import kill_switch
from macroquant.risk.kill_switch_state import KillSwitchState


def read_timeline(conn: psycopg.Connection) -> KillSwitchTimeline:
    """Every recorded transition, in the order of their ``at`` (ties: recording order)."""
    rows = conn.execute("""SELECT at, state FROM kill_switch_history
                           ORDER BY at, event_id""").fetchall()
    return KillSwitchTimeline([row[0] for row in rows],
                              [KillSwitchState(row[1]) for row in rows])


def delete_control_events(conn: psycopg.Connection, start: date) -> None:
    """Remove the controls' ``risk_events`` from ``start`` on (the window is replayed).
    Kill-switch history is never deleted: a rerun finds its own escalations there."""
    conn.execute("""DELETE FROM risk_events WHERE as_of >= %s AND subject = 'portfolio'
                    AND check_name = ANY(%s)""", (start, list(CONTROL_CHECKS)))


def apply_escalations(conn: psycopg.Connection, events: list[ControlEvent],
                      run_id: str) -> None:
    """Store the controls' events in ``risk_events`` and move the kill switch for each
    escalation newly in effect (``halt``/``reduce``, idempotent, never toward ACTIVE)."""
    for event in events:
        if event.escalate_to is KillSwitchState.HALTED:
            kill_switch.halt(conn, reason=event.reason, actor=event.actor, at=event.at,
                             as_of=event.as_of)
        elif event.escalate_to is KillSwitchState.REDUCING:
            kill_switch.reduce(conn, reason=event.reason, actor=event.actor, at=event.at,
                               as_of=event.as_of)
    rows = [(e.as_of, e.check_name, "portfolio", e.outcome, e.limit_value, e.observed_value,
             json.dumps(e.details, sort_keys=True), run_id, e.reason) for e in events]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO risk_events (as_of, check_name, subject, outcome, limit_value,
                                        observed_value, details, run_id, reason)
               VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)""", rows)
