"""Quarantine as a user's tool: list, show, accept and drop quarantined bars.

A quarantined bar is one staged row that failed one or more gate checks: one
``quarantine`` row per failed check, all with the same (``source_id``, ``origin``,
``as_of``, ``row_number``). ``origin`` says where it came from (a CSV file's path, or the
source id) and ``line`` its line in that file. Every command here works on whole bars:
naming any of its ``quarantine_id`` acts on all its checks.

- **accept**: the bar is published into ``market_data`` as it was received (an existing
  bar of that instrument and date is replaced), the rows become ``accepted`` with who and
  when, and an ``audit_log`` row records it. A bar that cannot be stored (no close, no
  date, an unknown instrument, a line that could not be read) is refused.
- **drop**: the rows become ``dropped`` (who, when, audited); nothing is published.

Only ``open`` rows stop signals (``macroquant.pipeline.signals``). A rerun that finds the
same failure on the same row keeps the decision (``audit.write_quarantine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from macroquant.auth import audit as audit_log
from macroquant.errors import MacroQuantError

STATUSES: tuple[str, ...] = ("open", "accepted", "dropped")
# One line per quarantined bar: its checks aggregated.
_BARS = """SELECT min(q.quarantine_id) AS id, q.as_of, q.symbol, q.trade_date, q.dataset,
                  q.source_id, q.origin, q.line, q.row_number, q.status,
                  string_agg(q.check_name, ', ' ORDER BY q.check_name) AS checks,
                  string_agg(q.reason, '; ' ORDER BY q.check_name) AS reasons,
                  max(q.decided_by) AS decided_by, max(q.decided_at) AS decided_at
           FROM quarantine q
           WHERE (%(status)s::text IS NULL OR q.status = %(status)s)
             AND (%(symbol)s::text IS NULL OR q.symbol = %(symbol)s)
             AND (%(start)s::date IS NULL OR q.as_of >= %(start)s)
             AND (%(end)s::date IS NULL OR q.as_of <= %(end)s)
             AND (%(origin)s::text IS NULL OR q.origin = %(origin)s)
           GROUP BY q.as_of, q.symbol, q.trade_date, q.dataset, q.source_id, q.origin,
                    q.line, q.row_number, q.status
           ORDER BY q.as_of DESC, q.symbol, q.origin, q.row_number
           LIMIT %(limit)s"""


class QuarantineError(MacroQuantError):
    """A quarantine command cannot do what was asked (the message says which row, why)."""


def list_bars(conn: psycopg.Connection, *, status: str | None = "open",
              symbol: str | None = None, start: date | None = None, end: date | None = None,
              origin: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Quarantined bars, newest ``as_of`` first, one dict per bar (its checks joined)."""
    if status is not None and status not in STATUSES:
        raise QuarantineError(f"unknown status '{status}' (one of {', '.join(STATUSES)})")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_BARS, {"status": status, "symbol": symbol, "start": start,
                                   "end": end, "origin": origin, "limit": limit}).fetchall()


def bar_rows(conn: psycopg.Connection, quarantine_id: int) -> list[dict[str, Any]]:
    """Every quarantine row (one per failed check) of the bar holding ``quarantine_id``;
    raises :class:`QuarantineError` for an unknown id."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT q.* FROM quarantine q JOIN quarantine k
                 ON (k.source_id, k.origin, k.as_of, k.row_number)
                    = (q.source_id, q.origin, q.as_of, q.row_number)
               WHERE k.quarantine_id = %s ORDER BY q.check_name""",
            (quarantine_id,)).fetchall()
    if not rows:
        raise QuarantineError(f"no quarantined row has id {quarantine_id} "
                              "(see `macroquant quarantine list --status all`)")
    return rows


def _publishable(rows: list[dict[str, Any]], known: set[str]) -> str | None:
    """Why the bar of ``rows`` cannot be published (None if it can)."""
    first = rows[0]
    raw = first["raw_row"] or {}
    if first["dataset"] != "market_data" or "close" not in raw:
        return "its line could not be read as a bar; fix the file and load it again"
    if raw.get("close") is None or raw.get("trade_date") is None:
        return "it has no close or no trade date"
    if raw.get("symbol") not in known:
        return f"its symbol {raw.get('symbol')!r} is not a known instrument"
    return None


def decide(conn: psycopg.Connection, ids: Sequence[int], decision: str, *, actor: str,
           at: datetime) -> list[dict[str, Any]]:
    """Accept or drop the open bars holding ``ids``; return one summary dict per bar.

    All or nothing: an id that is unknown, already decided, or (accept) a bar that cannot
    be published raises :class:`QuarantineError` before anything changes."""
    if decision not in ("accepted", "dropped"):
        raise ValueError(f"decision must be 'accepted' or 'dropped', not {decision!r}")
    if not actor.strip():
        raise QuarantineError("say who decides (--by NAME)")
    known = {s for (s,) in conn.execute("SELECT symbol FROM instruments")}
    bars: dict[tuple, list[dict[str, Any]]] = {}
    for quarantine_id in ids:
        rows = bar_rows(conn, quarantine_id)
        key = tuple(rows[0][k] for k in ("source_id", "origin", "as_of", "row_number"))
        if rows[0]["status"] != "open":
            raise QuarantineError(
                f"quarantined row {quarantine_id} was already {rows[0]['status']} by "
                f"{rows[0]['decided_by']} at {rows[0]['decided_at']:%Y-%m-%d %H:%M} UTC")
        if decision == "accepted" and (why := _publishable(rows, known)):
            raise QuarantineError(f"quarantined row {quarantine_id} cannot be accepted: {why}")
        bars[key] = rows
    summaries = []
    for key, rows in bars.items():
        if decision == "accepted":
            _publish_raw(conn, rows[0])
        conn.execute(
            """UPDATE quarantine SET status = %s, decided_by = %s, decided_at = %s
               WHERE (source_id, origin, as_of, row_number) = (%s, %s, %s, %s)""",
            (decision, actor, at, *key))
        summary = {"id": rows[0]["quarantine_id"], "symbol": rows[0]["symbol"],
                   "trade_date": str(rows[0]["trade_date"]), "origin": rows[0]["origin"],
                   "line": rows[0]["line"], "checks": [r["check_name"] for r in rows]}
        audit_log.record(conn, at=at, actor=actor, outcome="success",
                         action=f"quarantine.{'accept' if decision == 'accepted' else 'drop'}",
                         target=f"quarantine:{summary['id']}", details=summary)
        summaries.append(summary)
    return summaries


def _publish_raw(conn: psycopg.Connection, row: dict[str, Any]) -> None:
    """Insert or replace the bar of a quarantine row in ``market_data`` (its values as
    received; the statement-level reference triggers check instrument and source)."""
    conn.execute(
        """INSERT INTO market_data (instrument_id, trade_date, open, high, low, close,
                                    adj_close, volume, source_id)
           SELECT i.instrument_id, (r->>'trade_date')::date, (r->>'open')::float8,
                  (r->>'high')::float8, (r->>'low')::float8, (r->>'close')::float8,
                  (r->>'adj_close')::float8, (r->>'volume')::float8, %s
           FROM (SELECT %s::jsonb AS r) raw JOIN instruments i ON i.symbol = r->>'symbol'
           ON CONFLICT (instrument_id, trade_date) DO UPDATE SET
               open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
               close = EXCLUDED.close, adj_close = EXCLUDED.adj_close,
               volume = EXCLUDED.volume, source_id = EXCLUDED.source_id, loaded_at = now()""",
        (row["source_id"], Jsonb(row["raw_row"])))
