"""Stage 6 — risk: enforce the limits on every portfolio target and record each outcome.

Input: ``portfolio_targets`` (from the portfolio stage), ``instruments`` (lot sizes, asset
classes), the trading configuration's ``risk`` section.
Output: ``portfolio_targets.approved_quantity`` and ``risk_status`` (the only quantities
the orders stage will trade), and ``risk_events`` (one row per check, subject and date:
``max_position``, ``asset_class_cap`` per configured class, ``max_net_leverage`` and
``max_gross_leverage``; every session gets a ``max_gross_leverage`` and a
``max_net_leverage`` row with subject ``portfolio`` — the former is the orders stage's
proof that risk ran for that date). The rule is the core's
:func:`macroquant.risk.limits.decide_limits`, which the book backtest runs too.
Idempotency key: ``as_of`` in the window (approved columns and this stage's checks in
risk_events rewritten; the portfolio stage's stop events and the order gate's events are
left to their stages).
"""

from __future__ import annotations

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.risk.limits import EVENT_COLUMNS, RISK_CHECKS, decide_limits


def run(context: StageContext) -> dict[str, int]:
    """Approve, clip or scale the window's targets and record the risk events."""
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        targets = read_frame(conn, """SELECT t.as_of, t.instrument_id, i.symbol, i.lot_size,
                                             i.asset_class, t.price, t.target_quantity,
                                             t.target_notional
                                      FROM portfolio_targets t JOIN instruments i USING (instrument_id)
                                      WHERE t.as_of BETWEEN %s AND %s
                                      ORDER BY t.as_of, t.instrument_id""", window)
        approved, events = decide_limits(targets, context.sessions, context.trading)
        events = events.assign(run_id=context.run_id)

        conn.execute("DELETE FROM portfolio_targets WHERE as_of BETWEEN %s AND %s", window)
        copy_rows(conn, "portfolio_targets", approved,
                  ["as_of", "instrument_id", "price", "target_quantity", "target_notional",
                   "approved_quantity", "risk_status"])
        conn.execute("""DELETE FROM risk_events WHERE as_of BETWEEN %s AND %s
                        AND check_name = ANY(%s)""", (*window, list(RISK_CHECKS)))
        written = copy_rows(conn, "risk_events", events.sort_values(["as_of", "check_name",
                                                                     "subject"]),
                            [*EVENT_COLUMNS, "run_id"])
    outcomes = events["outcome"].value_counts().to_dict()
    return {"risk_events": written, **{f"outcome_{k}": int(v) for k, v in outcomes.items()}}
