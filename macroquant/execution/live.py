"""One orders session on a live (or paper-OMS) broker account.

1. Reconcile with the broker (a failed report stops the session; mismatches lock their
   instruments).
2. Kill switch HALTED: cancel every open order and send nothing.
3. For each risk-approved target of ``as_of``: the trade is the target minus the ledger
   position (which equals the broker's after reconciliation), rounded to whole lots; no
   order for an instrument the broker cannot trade (its asset class is not among the
   account's ``asset_classes``: refused, with the reason, the rest still trades), a locked
   instrument, one that already has an open order, or one smaller than
   ``min_order_notional``. Each order goes through :class:`OrderManager` (written, gated,
   sent, tracked).

The summary says what was NOT done, for the orders stage to count (a run with any of these
is ``degraded``, never green): ``unsent`` (orders still ``new``: the broker could not be
reached), ``unknown`` (accepted, fills not read), ``conflicts`` (the broker has a different
order under our id), ``locked`` (instruments locked by reconciliation), ``refused``
(instruments the broker cannot trade). ``resumed`` lists orders an earlier run had left
unsent and this one sent (or found at the broker).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import psycopg

from macroquant.brokers.interface import Broker
from macroquant.brokers.tradability import refusal_reason
from macroquant.config.settings import TradingConfig
from macroquant.db.bulk import read_frame
from macroquant.execution import order_store as store
from macroquant.execution.gate import ledger_positions
from macroquant.execution.oms import CONFLICT, OrderIntent, OrderManager
from macroquant.execution.reconcile import locked_symbols, reconcile
from macroquant.portfolio.sizing import round_to_lot
from macroquant.risk.kill_switch import KillSwitchState, current_state
from macroquant.risk.order_gate import RiskLimits


def trade_session(url: str, broker: Broker, config: TradingConfig, as_of: date, run_id: str,
                  clock: Callable[[], datetime], *, equity: float | None = None,
                  hooks: Callable[[str, str], None] | None = None) -> dict[str, object]:
    """Reconcile, then trade ``as_of``'s approved targets on ``broker``; a summary."""
    oms = OrderManager(url, broker, RiskLimits.from_config(config), run_id=run_id, clock=clock,
                       equity=equity or config.trading_capital, hooks=hooks)
    try:
        recon = reconcile(oms, clock)
        conn = oms.conn
        if current_state(conn) is KillSwitchState.HALTED:
            cancelled = oms.cancel_all_open("kill switch HALTED: open orders cancelled")
            return {"reconciliation": recon.status, "halted": True, "cancelled": cancelled,
                    "orders": {}}
        # orders a previous run wrote but never sent go first (looked up before resending)
        resumed = oms.send_pending(as_of)
        targets = read_frame(conn, """SELECT i.symbol, i.lot_size, t.price, t.approved_quantity
                                      FROM portfolio_targets t JOIN instruments i
                                      USING (instrument_id) WHERE t.as_of = %s""", (as_of,))
        asset_class = dict(conn.execute("SELECT symbol, asset_class FROM instruments"))
        ledger = ledger_positions(conn, broker.name).groupby("symbol")["quantity"].sum()
        locked = locked_symbols(conn)
        busy = {o.symbol for o in store.open_orders(conn, broker.name)}
        # positions held but no longer targeted are closed (as the paper replay does)
        held = [s for s in ledger.index if ledger[s] != 0 and s not in set(targets["symbol"])]
        intents, skipped, refused = [], {}, {}
        quantities = round_to_lot(targets["approved_quantity"].to_numpy(float)
                                  - ledger.reindex(targets["symbol"]).fillna(0.0).to_numpy(),
                                  targets["lot_size"].to_numpy(float))
        rows = list(zip(targets["symbol"], quantities, targets["price"], strict=True))
        prices = _last_prices(conn, held, as_of)
        rows += [(s, -float(ledger[s]), prices.get(s, np.nan)) for s in held]
        for symbol, quantity, price in rows:
            reason = refusal_reason(broker.name, broker.asset_classes, symbol,
                                    asset_class.get(symbol, ""))
            if reason is not None and quantity != 0:
                refused[symbol] = skipped[symbol] = reason
            elif symbol in locked:
                skipped[symbol] = "locked by reconciliation"
            elif symbol in busy:
                skipped[symbol] = "an order is still open"
            elif quantity == 0 or not np.isfinite(price):
                continue
            elif abs(quantity) * price < config.portfolio.min_order_notional:
                skipped[symbol] = "below min_order_notional"
            else:
                intents.append(OrderIntent(symbol, float(quantity), float(price)))
        if refused:
            with conn.transaction():
                store.alert(conn, "WARNING", f"{len(refused)} instrument(s) refused before "
                            f"sending to {broker.name}: " + "; ".join(refused.values()),
                            run_id, {"refused": refused})
        placed = oms.place(as_of, intents)
        outcomes = {**resumed, **placed}
        return {"reconciliation": recon.status, "halted": False, "resumed": resumed,
                "orders": placed, "skipped": skipped, "refused": refused,
                "locked": sorted(locked_symbols(conn)),
                "unsent": sorted(c for c, status in outcomes.items() if status == "new"),
                "unknown": sorted(c for c, status in outcomes.items() if status == "unknown"),
                "conflicts": sorted(c for c, status in outcomes.items() if status == CONFLICT)}
    finally:
        oms.close()


def summary_counts(summary: dict[str, object]) -> dict[str, int]:
    """The orders stage's result: counts of a session's orders, and of what was NOT done
    (``unsent``, ``unknown``, ``conflicts``, ``locked``, ``refused``: a run with any is
    degraded) and of the orders ``resumed`` from an earlier run."""
    statuses = list(summary.get("orders", {}).values())
    counts = {"orders": len(statuses), "filled": statuses.count("filled"),
              "rejected": statuses.count("rejected"),
              "skipped": len(summary.get("skipped", {})),
              "resumed": sum(1 for s in summary.get("resumed", {}).values() if s != "new")}
    for key in ("unsent", "unknown", "conflicts", "locked", "refused"):
        counts[key] = len(summary.get(key, ()))
    return counts


def _last_prices(conn: psycopg.Connection, symbols: list[str], as_of: date
                 ) -> dict[str, float]:
    if not symbols:
        return {}
    return dict(conn.execute(
        """SELECT DISTINCT ON (i.symbol) i.symbol, m.close FROM market_data m
           JOIN instruments i USING (instrument_id) WHERE i.symbol = ANY(%s)
           AND m.trade_date <= %s ORDER BY i.symbol, m.trade_date DESC""", (symbols, as_of)))
