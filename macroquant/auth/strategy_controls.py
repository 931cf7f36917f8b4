"""Operator pause flags per strategy (``strategy_controls``), set through the API.

The signals stage honours them with :func:`paused_strategies`: a paused strategy gets no
new signal rows for the dates it runs, until a trader unpauses it. Pausing never deletes
signals already written. The portfolio stage carries a paused strategy's latest targets
forward while it has no signals (``hold_paused``); ``macroquant status`` lists the paused
strategies.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from pydantic import BaseModel, ConfigDict

from macroquant.auth import audit


class StrategyControl(BaseModel):
    """The pause flag of one strategy and who set it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy_name: str
    paused: bool
    reason: str
    changed_by: str
    changed_at: datetime


def paused_strategies(conn: psycopg.Connection) -> frozenset[str]:
    """Names of the strategies whose positions are held: paused by an operator, or retired
    from the strategy folder under ``strategy_book.retired_positions: hold`` (still in the
    book, ``retired_on`` set; see ``macroquant.pipeline.book``)."""
    return frozenset(r[0] for r in conn.execute(
        """SELECT strategy_name FROM strategy_controls WHERE paused
           UNION SELECT name FROM strategies WHERE enabled AND retired_on IS NOT NULL"""
    ).fetchall())


def controls(conn: psycopg.Connection) -> dict[str, StrategyControl]:
    """Every strategy's control row, by name (strategies never paused have none)."""
    rows = conn.execute("""SELECT strategy_name, paused, reason, changed_by, changed_at
                           FROM strategy_controls ORDER BY strategy_name""").fetchall()
    return {r[0]: StrategyControl(strategy_name=r[0], paused=r[1], reason=r[2],
                                  changed_by=r[3], changed_at=r[4]) for r in rows}


def set_paused(conn: psycopg.Connection, strategy_name: str, paused: bool, *, actor: str,
               role: str | None, at: datetime, reason: str = "",
               client: str = "") -> StrategyControl:
    """Pause or unpause ``strategy_name`` (upsert) and audit it."""
    conn.execute(
        """INSERT INTO strategy_controls (strategy_name, paused, reason, changed_by, changed_at)
           VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (strategy_name) DO UPDATE SET paused = EXCLUDED.paused,
               reason = EXCLUDED.reason, changed_by = EXCLUDED.changed_by,
               changed_at = EXCLUDED.changed_at""",
        (strategy_name, paused, reason, actor, at),
    )
    audit.record(conn, at=at, actor=actor, role=role,
                 action="strategy.pause" if paused else "strategy.unpause",
                 target=f"strategy:{strategy_name}", outcome="success", client=client,
                 details={"reason": reason} if reason else {})
    return StrategyControl(strategy_name=strategy_name, paused=paused, reason=reason,
                           changed_by=actor, changed_at=at)
