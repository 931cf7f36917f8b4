"""Stage 6 — risk: enforce the limits on every portfolio target and record each outcome.

Input: ``portfolio_targets`` (from the portfolio stage), ``instruments`` (lot sizes, asset
classes), the trading configuration's ``risk`` section.
Output: ``portfolio_targets.approved_quantity`` and ``risk_status`` (the only quantities
the orders stage will trade), and ``risk_events`` (one row per check, subject and date:
``max_position``, ``asset_class_cap`` per configured class, ``max_net_leverage`` and
``max_gross_leverage``; every session gets a ``max_gross_leverage`` and a
``max_net_leverage`` row with subject ``portfolio`` — the former is the orders stage's
proof that risk ran for that date). See :mod:`macroquant.risk.limits`.
Idempotency key: ``as_of`` in the window (approved columns and this stage's checks in
risk_events rewritten; the portfolio stage's stop events and the order gate's events are
left to their stages).
"""

from __future__ import annotations

import pandas as pd

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.risk.limits import EVENT_COLUMNS, apply_limits

RISK_CHECKS = ("max_position", "asset_class_cap", "max_net_leverage", "max_gross_leverage")


def _empty_session_events(sessions: list, decided: set, limits_by_check: dict[str, float]
                          ) -> pd.DataFrame:
    """A passing book-level row per check for sessions with no target at all."""
    days = [d for d in sessions if d not in decided]
    rows = [{"as_of": d, "check_name": check, "subject": "portfolio", "outcome": "pass",
             "limit_value": limit, "observed_value": 0.0, "reason": "no targets"}
            for d in days for check, limit in limits_by_check.items()]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def run(context: StageContext) -> dict[str, int]:
    """Approve, clip or scale the window's targets and record the risk events."""
    limits = context.trading.risk
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        targets = read_frame(conn, """SELECT t.as_of, t.instrument_id, i.symbol, i.lot_size,
                                             i.asset_class, t.price, t.target_quantity,
                                             t.target_notional
                                      FROM portfolio_targets t JOIN instruments i USING (instrument_id)
                                      WHERE t.as_of BETWEEN %s AND %s
                                      ORDER BY t.as_of, t.instrument_id""", window)
        approved, events = apply_limits(
            targets, capital=context.trading.trading_capital,
            max_position_fraction=limits.max_position_fraction,
            max_gross_leverage=limits.max_gross_leverage,
            max_net_leverage=limits.max_net_leverage,
            asset_class_max_gross=limits.asset_class_max_gross)
        decided = set(events.loc[events["check_name"] == "max_gross_leverage", "as_of"])
        empty_days = _empty_session_events(
            context.sessions, decided, {"max_net_leverage": limits.max_net_leverage,
                                        "max_gross_leverage": limits.max_gross_leverage})
        if not empty_days.empty:
            events = pd.concat([events, empty_days], ignore_index=True)
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
