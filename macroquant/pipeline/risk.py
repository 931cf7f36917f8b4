"""Stage 6 — risk: enforce the limits on every portfolio target and record each outcome.

Input: ``portfolio_targets`` (from the portfolio stage), ``instruments``, the trading
configuration's ``risk`` section.
Output: ``portfolio_targets.approved_quantity`` and ``risk_status`` (the only quantities
the orders stage will trade), and ``risk_events`` (one row per check, subject and date;
every session gets a ``max_gross_leverage`` row, which is the orders stage's proof that
risk ran for that date).
Idempotency key: ``as_of`` in the window (approved columns and risk_events rewritten).
"""

from __future__ import annotations

import pandas as pd

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.risk.limits import apply_limits

EVENT_COLUMNS = ["as_of", "check_name", "subject", "outcome", "limit_value", "observed_value"]


def run(context: StageContext) -> dict[str, int]:
    """Approve, clip or scale the window's targets and record the risk events."""
    limits = context.trading.risk
    window = (context.start, context.end)
    with transaction(context.url) as conn:
        targets = read_frame(conn, """SELECT t.as_of, t.instrument_id, i.symbol, i.lot_size,
                                             t.price, t.target_quantity, t.target_notional
                                      FROM portfolio_targets t JOIN instruments i USING (instrument_id)
                                      WHERE t.as_of BETWEEN %s AND %s
                                      ORDER BY t.as_of, t.instrument_id""", window)
        approved, events = apply_limits(
            targets, capital=context.trading.trading_capital,
            max_position_fraction=limits.max_position_fraction,
            max_gross_leverage=limits.max_gross_leverage)
        decided = set(events.loc[events["check_name"] == "max_gross_leverage", "as_of"])
        empty_days = pd.DataFrame({"as_of": [d for d in context.sessions if d not in decided]})
        if not empty_days.empty:
            empty_days = empty_days.assign(check_name="max_gross_leverage", subject="portfolio",
                                           outcome="pass", limit_value=limits.max_gross_leverage,
                                           observed_value=0.0)
            events = pd.concat([events, empty_days], ignore_index=True)

        conn.execute("DELETE FROM portfolio_targets WHERE as_of BETWEEN %s AND %s", window)
        copy_rows(conn, "portfolio_targets", approved,
                  ["as_of", "instrument_id", "price", "target_quantity", "target_notional",
                   "approved_quantity", "risk_status"])
        conn.execute("DELETE FROM risk_events WHERE as_of BETWEEN %s AND %s", window)
        written = copy_rows(conn, "risk_events", events.sort_values(["as_of", "check_name",
                                                                     "subject"]), EVENT_COLUMNS)
    outcomes = events["outcome"].value_counts().to_dict()
    return {"risk_events": written, **{f"outcome_{k}": int(v) for k, v in outcomes.items()}}
