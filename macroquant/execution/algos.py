"""Execution algorithms: market, limit with timeout then cancel/replace, TWAP, VWAP, and a
participation cap against volume.

Schedules are pure functions (quantities in whole lots, summing exactly to the parent's
quantity). :func:`run_due_slices` is the entry point the ``macroquant_intraday`` DAG calls:
for every active parent in ``algo_orders`` it sends the slices that are due (each a child
order with the deterministic id ``<algo_id>-S<k>``, through the OMS and its risk gate), and
cancels/replaces limit children older than their timeout (``<algo_id>-S<k>-R<n>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.brokers.interface import Broker
from macroquant.config.settings import Settings, load_trading_config
from macroquant.db.connection import connect, database_url
from macroquant.errors import MissingInputError
from macroquant.execution.oms import OrderIntent, OrderManager
from macroquant.risk.order_gate import RiskLimits


# ---------------------------------------------------------------------------- pure schedules
def _split_lots(total_lots: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total_lots`` by ``weights`` (sums exactly)."""
    weights = np.asarray(weights, float)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    exact = total_lots * weights / weights.sum()
    lots = np.floor(exact).astype(int)
    short = total_lots - lots.sum()
    order = np.argsort(-(exact - lots), kind="stable")
    lots[order[:short]] += 1
    return lots


def _schedule(quantity: float, start: datetime, end: datetime, weights: np.ndarray,
              lot_size: float) -> pd.DataFrame:
    slices = len(weights)
    total_lots = int(np.floor(abs(quantity) / lot_size + 1e-9))
    lots = _split_lots(total_lots, weights)
    step = (end - start) / slices
    return pd.DataFrame({
        "slice": np.arange(1, slices + 1),
        "due_at": [start + k * step for k in range(slices)],
        "quantity": np.sign(quantity) * lots * lot_size,
    })


def twap_schedule(quantity: float, start: datetime, end: datetime, slices: int,
                  lot_size: float = 1.0) -> pd.DataFrame:
    """Equal slices at equal intervals from ``start`` (slice k due at start + k*(end-start)/n);
    the lots that do not divide evenly go to the first slices."""
    return _schedule(quantity, start, end, np.ones(slices), lot_size)


def vwap_schedule(quantity: float, start: datetime, end: datetime,
                  volume_profile: Sequence[float], lot_size: float = 1.0) -> pd.DataFrame:
    """Slices proportional to the expected volume of each interval (``volume_profile``,
    e.g. the average share of daily volume per half hour)."""
    return _schedule(quantity, start, end, np.asarray(volume_profile, float), lot_size)


def cap_participation(planned: np.ndarray, volumes: np.ndarray, max_participation: float,
                      lot_size: float = 1.0) -> tuple[np.ndarray, float]:
    """Cap each slice at ``max_participation`` of its interval's volume; what cannot trade
    carries into later slices. Returns (executable quantity per slice, unexecuted rest).

    Vectorised: with cumulative plan P and cumulative capacity C, the cumulative executed
    quantity is E_k = C_k + min(0, min_{j<=k}(P_j - C_j)).
    """
    planned = np.abs(np.asarray(planned, float))
    capacity = np.floor(max_participation * np.asarray(volumes, float) / lot_size + 1e-9) \
        * lot_size
    cum_plan, cum_cap = np.cumsum(planned), np.cumsum(capacity)
    executed = cum_cap + np.minimum(0.0, np.minimum.accumulate(cum_plan - cum_cap))
    per_slice = np.diff(np.concatenate([[0.0], executed]))
    return per_slice, float(cum_plan[-1] - executed[-1]) if len(planned) else 0.0


def limit_price(reference: float, side: str, offset_bps: float) -> float:
    """A passive limit ``offset_bps`` better than ``reference`` (below it for a buy)."""
    sign = -1.0 if side == "buy" else 1.0
    return reference * (1.0 + sign * offset_bps / 1e4)


def limit_action(age_s: float, timeout_s: float) -> str:
    """``'wait'`` while a limit order is younger than its timeout, then ``'cancel_replace'``."""
    return "wait" if age_s < timeout_s else "cancel_replace"


# ---------------------------------------------------------------------------- parents
def submit_algo(conn: psycopg.Connection, *, algo_id: str, as_of: date, symbol: str,
                quantity: float, algo: str, broker: str, start_at: datetime, end_at: datetime,
                slices: int = 1, max_participation: float | None = None,
                limit_offset_bps: float = 0.0, limit_timeout_s: float | None = None,
                params: dict[str, Any] | None = None, strategy: str = "portfolio") -> bool:
    """Store a parent order (idempotent by ``algo_id``); True if it was new."""
    return bool(conn.execute(
        """INSERT INTO algo_orders (algo_id, as_of, strategy, instrument_id, side, quantity,
                                    algo, broker, start_at, end_at, slices, max_participation,
                                    limit_offset_bps, limit_timeout_s, params)
           SELECT %s, %s, %s, instrument_id, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
           FROM instruments WHERE symbol = %s
           ON CONFLICT (algo_id) DO NOTHING""",
        (algo_id, as_of, strategy, "buy" if quantity > 0 else "sell", abs(quantity), algo,
         broker, start_at, end_at, slices, max_participation, limit_offset_bps,
         limit_timeout_s, Jsonb(params or {}), symbol)).rowcount)


def parent_schedule(parent: dict[str, Any]) -> pd.DataFrame:
    """The slices of a parent row of ``algo_orders`` (participation cap applied)."""
    signed = parent["quantity"] * (1 if parent["side"] == "buy" else -1)
    lot = float(parent["lot_size"])
    if parent["algo"] == "vwap":
        plan = vwap_schedule(signed, parent["start_at"], parent["end_at"],
                             parent["params"].get("volume_profile") or [1.0] * parent["slices"],
                             lot)
    else:
        slices = parent["slices"] if parent["algo"] == "twap" else 1
        plan = twap_schedule(signed, parent["start_at"], parent["end_at"], slices, lot)
    volumes = parent["params"].get("expected_volumes")
    if parent["max_participation"] and volumes:
        capped, _rest = cap_participation(plan["quantity"].to_numpy(), np.asarray(volumes),
                                          parent["max_participation"], lot)
        plan["quantity"] = np.sign(signed) * capped
    return plan


def run_due_slices(settings: Settings, now: datetime, *,
                   broker_factory: Callable[[str], Broker] | None = None) -> dict[str, int]:
    """Send every due slice of every active parent; cancel/replace stale limit children.
    Returns counts: ``parents``, ``sent``, ``replaced``, ``completed``."""
    url = database_url(settings)
    config = load_trading_config(settings.config_path)
    factory = broker_factory or _default_factory(settings, url, now)
    counts = {"parents": 0, "sent": 0, "replaced": 0, "completed": 0}
    with connect(url) as conn:
        conn.autocommit = True
        parents = _active_parents(conn)
        for parent in parents:
            counts["parents"] += 1
            oms = OrderManager(url, factory(parent["broker"]), RiskLimits.from_config(config),
                               run_id=f"intraday-{now:%Y%m%dT%H%M}", clock=lambda: now,
                               equity=config.trading_capital)
            try:
                counts["replaced"] += _replace_stale_limits(oms, conn, parent, now)
                counts["sent"] += _send_due(oms, conn, parent, now)
                if _finish_if_done(conn, parent):
                    counts["completed"] += 1
            finally:
                oms.close()
    return counts


def _default_factory(settings: Settings, url: str, now: datetime) -> Callable[[str], Broker]:
    from macroquant.brokers.registry import make_broker, secret_lookup, selected_options

    trading = load_trading_config(settings.config_path)

    def factory(name: str) -> Broker:
        # the configured broker's options (a live broker never goes to a default endpoint)
        name, options = selected_options(name, trading, settings.config_path,
                                         paper_state=settings.home / "paper_account.json")
        with connect(url) as conn:
            return make_broker(name, options, secret_lookup(conn), lambda: now)

    return factory


def _active_parents(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cur = conn.execute("""SELECT a.*, i.symbol, i.lot_size FROM algo_orders a
                          JOIN instruments i USING (instrument_id)
                          WHERE a.status = 'active' ORDER BY a.algo_id""")
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _reference(conn: psycopg.Connection, instrument_id: int, day: date) -> float:
    row = conn.execute("""SELECT close FROM market_data WHERE instrument_id = %s
                          AND trade_date <= %s ORDER BY trade_date DESC LIMIT 1""",
                       (instrument_id, day)).fetchone()
    if row is None:
        raise MissingInputError(f"algo: no price for instrument {instrument_id} on or before {day}")
    return float(row[0])


def _intent(conn: psycopg.Connection, parent: dict[str, Any], client_id: str, sequence: int,
            quantity: float) -> OrderIntent:
    reference = _reference(conn, parent["instrument_id"], parent["as_of"])
    is_limit = parent["algo"] == "limit" or parent["limit_timeout_s"] is not None
    return OrderIntent(
        symbol=parent["symbol"], quantity=quantity, reference_price=reference,
        strategy=parent["strategy"], sequence=sequence,
        order_type="limit" if is_limit else "market",
        limit_price=limit_price(reference, parent["side"], parent["limit_offset_bps"])
        if is_limit else None, parent_id=parent["algo_id"], client_order_id=client_id)


def _send_due(oms: OrderManager, conn: psycopg.Connection, parent: dict[str, Any],
              now: datetime) -> int:
    plan = parent_schedule(parent)
    existing = {r[0] for r in conn.execute("SELECT client_order_id FROM orders WHERE parent_id "
                                           "= %s", (parent["algo_id"],))}
    intents = [
        _intent(conn, parent, f"{parent['algo_id']}-S{row.slice}", int(row.slice),
                float(row.quantity))
        for row in plan.itertuples()
        if row.due_at <= now and row.quantity != 0
        and f"{parent['algo_id']}-S{row.slice}" not in existing]
    if not intents and not existing:
        return 0
    oms.place(parent["as_of"], intents)   # also resends any unsent child of a crashed run
    return len(intents)


def _replace_stale_limits(oms: OrderManager, conn: psycopg.Connection,
                          parent: dict[str, Any], now: datetime) -> int:
    if parent["limit_timeout_s"] is None:
        return 0
    oms.sync()
    stale = conn.execute(
        """SELECT client_order_id, sequence, quantity - filled_quantity, created_at
           FROM orders WHERE parent_id = %s AND status IN ('submitted', 'partially_filled')""",
        (parent["algo_id"],)).fetchall()
    replaced = 0
    for client_id, sequence, remaining, created_at in stale:
        age = (now - created_at).total_seconds()
        if limit_action(age, parent["limit_timeout_s"]) != "cancel_replace":
            continue
        oms.cancel(client_id, f"limit timeout {parent['limit_timeout_s']:g}s: cancel/replace")
        base = client_id.split("-R")[0]
        generation = int(client_id.split("-R")[1]) + 1 if "-R" in client_id else 1
        signed = remaining if parent["side"] == "buy" else -remaining
        oms.place(parent["as_of"], [_intent(conn, parent, f"{base}-R{generation}", sequence,
                                            signed)])
        replaced += 1
    return replaced


def _finish_if_done(conn: psycopg.Connection, parent: dict[str, Any]) -> bool:
    slices = int((parent_schedule(parent)["quantity"] != 0).sum())
    row = conn.execute(
        """SELECT count(DISTINCT sequence) FILTER (WHERE status = 'filled'),
                  count(*) FILTER (WHERE status IN ('new', 'submitted', 'partially_filled'))
           FROM orders WHERE parent_id = %s""", (parent["algo_id"],)).fetchone()
    if row[0] >= slices and row[1] == 0:
        conn.execute("UPDATE algo_orders SET status = 'done' WHERE algo_id = %s",
                     (parent["algo_id"],))
        return True
    return False
