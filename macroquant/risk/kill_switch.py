"""The kill switch: ACTIVE / REDUCING / HALTED, persisted in PostgreSQL with its history.

- ACTIVE: trading as usual.
- REDUCING: the order gate passes only orders that reduce ``|position|``.
- HALTED: the order gate passes nothing and the orders stage cancels open orders.

Controls (drawdown, daily loss) may move the switch toward safety (ACTIVE → REDUCING →
HALTED) on their own; only a person moves it back (:func:`resume`, called by
``macroquant risk resume --by NAME --reason TEXT``). Automatic actors are named
``system:<control>`` and :func:`resume` refuses them.

Every transition locks the single ``kill_switch`` row, updates it and appends a row to
``kill_switch_history`` in the caller's transaction. Times are arguments, never the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from macroquant.errors import AuthorizationError, MacroQuantError
from macroquant.risk.kill_switch_state import KillSwitchState

SYSTEM_ACTOR_PREFIX = "system:"
# The kill switch's row as the migration installs it (sql/0008): nobody has set it yet.
INSTALL_ACTOR = "system:install"


@dataclass(frozen=True)
class KillSwitchStatus:
    """The current state and the transition that set it."""

    state: KillSwitchState
    since: datetime
    actor: str
    reason: str


def _check_text(name: str, value: str) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise MacroQuantError(f"kill switch: '{name}' must be a non-empty text")
    return value


def _check_time(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise MacroQuantError(f"kill switch: 'at' must be a timezone-aware datetime, got {at!r}")
    return at


def status(conn: psycopg.Connection) -> KillSwitchStatus:
    """The kill switch's current state with who set it, when and why."""
    row = conn.execute("SELECT state, since, actor, reason FROM kill_switch").fetchone()
    if row is None:
        raise MacroQuantError("kill switch: the kill_switch row is missing; run "
                              "`macroquant db migrate` on a fresh database")
    return KillSwitchStatus(KillSwitchState(row[0]), row[1], row[2], row[3])


def current_state(conn: psycopg.Connection) -> KillSwitchState:
    """The kill switch's current state."""
    return status(conn).state


def history(conn: psycopg.Connection, limit: int = 20) -> list[dict]:
    """The latest ``limit`` transitions, newest first."""
    rows = conn.execute("""SELECT event_id, previous_state, state, at, actor, reason, as_of
                           FROM kill_switch_history ORDER BY event_id DESC LIMIT %s""",
                        (limit,)).fetchall()
    keys = ("event_id", "previous_state", "state", "at", "actor", "reason", "as_of")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _transition(conn: psycopg.Connection, target: KillSwitchState, *, reason: str, actor: str,
                at: datetime, as_of: date | None) -> KillSwitchStatus:
    reason, actor, at = _check_text("reason", reason), _check_text("actor", actor), \
        _check_time(at)
    row = conn.execute("SELECT state FROM kill_switch FOR UPDATE").fetchone()
    if row is None:
        raise MacroQuantError("kill switch: the kill_switch row is missing")
    previous = KillSwitchState(row[0])
    conn.execute("""UPDATE kill_switch SET state = %s, since = %s, actor = %s, reason = %s""",
                 (target.value, at, actor, reason))
    conn.execute("""INSERT INTO kill_switch_history
                        (previous_state, state, at, actor, reason, as_of)
                    VALUES (%s, %s, %s, %s, %s, %s)""",
                 (previous.value, target.value, at, actor, reason, as_of))
    return KillSwitchStatus(target, at, actor, reason)


def _escalate(conn: psycopg.Connection, target: KillSwitchState, *, reason: str, actor: str,
              at: datetime, as_of: date | None) -> KillSwitchStatus:
    _check_text("reason", reason), _check_text("actor", actor), _check_time(at)
    current = status(conn)
    if current.state.severity >= target.severity:
        return current  # already at least this safe: nothing to write (idempotent)
    return _transition(conn, target, reason=reason, actor=actor, at=at, as_of=as_of)


def halt(conn: psycopg.Connection, *, reason: str, actor: str, at: datetime,
         as_of: date | None = None) -> KillSwitchStatus:
    """Stop all trading: no new order passes the gate, open orders are to be cancelled.

    Idempotent: halting a halted switch writes nothing and returns the existing status.
    """
    return _escalate(conn, KillSwitchState.HALTED, reason=reason, actor=actor, at=at,
                     as_of=as_of)


def reduce(conn: psycopg.Connection, *, reason: str, actor: str, at: datetime,
           as_of: date | None = None) -> KillSwitchStatus:
    """Allow only orders that reduce ``|position|``. Never lowers a HALTED switch."""
    return _escalate(conn, KillSwitchState.REDUCING, reason=reason, actor=actor, at=at,
                     as_of=as_of)


def resume(conn: psycopg.Connection, *, actor: str, at: datetime, reason: str) -> KillSwitchStatus:
    """Re-arm trading (back to ACTIVE). Only a person may: ``system:*`` actors are refused
    with :class:`AuthorizationError`. Resuming an ACTIVE switch writes nothing."""
    actor, _, _ = _check_text("actor", actor), _check_text("reason", reason), _check_time(at)
    if actor.lower().startswith(SYSTEM_ACTOR_PREFIX):
        raise AuthorizationError(
            f"kill switch: '{actor}' is an automatic actor; only a person can resume trading "
            "(macroquant risk resume --by NAME --reason TEXT)")
    if current_state(conn) is KillSwitchState.ACTIVE:
        return status(conn)
    return _transition(conn, KillSwitchState.ACTIVE, reason=reason, actor=actor, at=at,
                       as_of=None)
