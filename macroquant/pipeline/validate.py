"""Stage 2 — validate: audit staged bars, quarantine failures, publish the rest.

Input: ``market_data_staging`` rows with ``as_of`` in the window; ``instruments``;
``market_data`` before the window (history for the warning checks).
Output: ``market_data`` (passing rows: new rows inserted, changed rows updated, unchanged
rows left untouched), ``quarantine`` (each failing row with the check and the reason),
``data_checks`` (per date and check: rows checked and failed), ``data_quality_flags``
(warnings: spikes, gaps, stale instruments).
Idempotency key: ``as_of`` in the window (quarantine, data_checks and flags are replaced).

Everything runs inside PostgreSQL in one transaction (``macroquant.validation.audit`` and ``.publish``):
the staged rows are never read into Python. Nothing is dropped silently: rows in = rows
published + rows quarantined, returned in the stage's counts (and so stored in
``pipeline_runs.rows_written``). Quarantined rows do not stop the run: the stage commits
what it found and published and logs a WARNING naming the dates, checks and instruments;
the signals stage then gives those instruments no signal while their bars stay open in
the quarantine (``macroquant quarantine list|show|accept|drop``), and the rest of the
book trades. Each quarantine row says where it came from (``origin`` = the source id).
"""

from __future__ import annotations

from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.logs import write_system_log
from macroquant.validation import audit, history_checks, publish
from macroquant.validation.config import load_quality_config


def run(context: StageContext) -> dict[str, int]:
    """Check the window's staged bars; publish passing rows; quarantine failing rows."""
    quality = load_quality_config()
    with transaction(context.url) as conn:
        conn.execute("SET LOCAL work_mem = '256MB'")
        audit.open_window(conn, context.start, context.end)
        audit.find_failures(conn)
        counts = audit.count(conn)
        audit.write_quarantine(conn, context.start, context.end)
        audit.write_gate_checks(conn, context.start, context.end, context.sessions)
        changed = publish.publish(conn, counts.published)
        flags = history_checks.run(conn, context.start, context.end, context.sessions, quality)
        bad_dates: list[str] = []
        if counts.quarantined:
            bad_dates = [d.isoformat() for (d,) in conn.execute(
                "SELECT DISTINCT as_of FROM _audit_failures ORDER BY 1").fetchall()]
            symbols = sorted(s or "(no symbol)" for (s,) in conn.execute(
                "SELECT DISTINCT symbol FROM _audit_rows r JOIN _audit_failures f "
                "USING (source_id, as_of, row_number)").fetchall())
            write_system_log(
                conn, "WARNING", "macroquant.pipeline.validate",
                f"validate: {counts.quarantined} of {counts.rows_in} staged rows quarantined "
                f"({', '.join(f'{k}: {v}' for k, v in sorted(counts.failures_by_check.items()))}"
                f") on {', '.join(bad_dates[:10])}{' …' if len(bad_dates) > 10 else ''}, of "
                f"{', '.join(symbols[:20])}; those instruments get no signal until the bars "
                "are fixed, accepted or dropped (`macroquant quarantine list`)", context.run_id,
                {"dates": bad_dates[:50], "by_check": counts.failures_by_check,
                 "symbols": symbols[:50]})

    return {"rows_in": counts.rows_in, "published": counts.published,
            "quarantined": counts.quarantined, "market_data_changed": changed,
            "flagged": sum(flags.values())}
