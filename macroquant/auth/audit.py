"""The audit log: who did what, when, to what, and whether it was allowed.

Every change made through the API, the dashboard login or ``macroquant users`` and every
refused attempt (wrong password, rate-limited login, a role that may not act) is one row
of ``audit_log``. Rows are also emitted on the ``macroquant.audit`` logger, so they reach
the JSON-lines log file. Text is passed through secret masking first; passwords and
tokens are never given to this module.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from macroquant.security.masking import mask_object, mask_text

log = logging.getLogger("macroquant.audit")

Outcome = Literal["success", "denied", "failed"]


class AuditEntry(BaseModel):
    """One row of ``audit_log``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    target: str
    outcome: Outcome
    client: str
    details: dict[str, Any]


def record(
    conn: psycopg.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    outcome: Outcome,
    target: str = "",
    role: str | None = None,
    client: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit row (in ``conn``'s transaction) and log it."""
    safe_details = mask_object(details or {})
    conn.execute(
        """INSERT INTO audit_log (at, actor, role, action, target, outcome, client, details)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (at, mask_text(actor), role, action, mask_text(target), outcome, client,
         Jsonb(safe_details)),
    )
    log.log(
        logging.WARNING if outcome == "denied" else logging.INFO,
        "audit %s %s %s by %s: %s", action, target, outcome, actor, safe_details,
        extra={"audit": {"actor": actor, "action": action, "target": target,
                         "outcome": outcome, "client": client}},
    )


def record_committed(url: str, **fields: Any) -> None:
    """:func:`record` in a transaction of its own, so a refusal is kept even though the
    caller's own work is rolled back."""
    from macroquant.db.connection import transaction

    with transaction(url) as conn:
        record(conn, **fields)


def recent(conn: psycopg.Connection, *, limit: int = 100, actor: str | None = None,
           outcome: Outcome | None = None) -> list[AuditEntry]:
    """The newest ``limit`` audit rows, newest first, optionally for one actor / outcome."""
    rows = conn.execute(
        """SELECT audit_id, at, actor, role, action, target, outcome, client, details
           FROM audit_log
           WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)
             AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
           ORDER BY audit_id DESC LIMIT %(limit)s""",
        {"actor": actor, "outcome": outcome, "limit": limit},
    ).fetchall()
    fields = AuditEntry.model_fields
    return [AuditEntry(**dict(zip(fields, row, strict=True))) for row in rows]
