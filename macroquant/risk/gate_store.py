"""The order gate's check outcomes in ``risk_events`` (the gate itself,
:mod:`macroquant.risk.order_gate`, is pure)."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import psycopg

from macroquant.risk.order_gate import GateResult


def record_outcomes(conn: psycopg.Connection, run_id: str, as_of: date,
                    outcomes: pd.DataFrame | GateResult) -> int:
    """Write every check outcome to ``risk_events`` (subject ``order:<order_ref>``); a
    re-check of the same order on the same date replaces its earlier outcome. Returns the
    number of rows written."""
    frame = outcomes.outcomes if isinstance(outcomes, GateResult) else outcomes
    if frame.empty:
        return 0
    rows = []
    for r in frame.itertuples(index=False):
        details = {"strategy": str(r.strategy), "symbol": str(r.symbol), "passed": bool(r.passed)}
        rows.append((as_of, r.check_name, f"order:{r.order_ref}", r.action,
                     None if r.limit is None or pd.isna(r.limit) else float(r.limit),
                     None if r.value is None or pd.isna(r.value) else float(r.value),
                     json.dumps(details, sort_keys=True), run_id, r.reason))
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO risk_events (as_of, check_name, subject, outcome, limit_value,
                                        observed_value, details, run_id, reason)
               VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)
               ON CONFLICT (as_of, check_name, subject) DO UPDATE SET
                   outcome = EXCLUDED.outcome, limit_value = EXCLUDED.limit_value,
                   observed_value = EXCLUDED.observed_value, details = EXCLUDED.details,
                   run_id = EXCLUDED.run_id, reason = EXCLUDED.reason""", rows)
    return len(rows)
