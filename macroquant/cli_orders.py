"""``macroquant orders ...``: order book, reconciliation, instrument locks, live sessions."""

from __future__ import annotations

import argparse
from pathlib import Path

from macroquant.brokers.registry import BROKERS
from macroquant.cli_args import iso_date, wall_clock
from macroquant.config.settings import (
    Settings,
    TradingConfig,
    load_trading_config,
)
from macroquant.execution.order_states import OPEN_STATES


def _broker(args: argparse.Namespace, conn, settings: Settings, trading: TradingConfig):
    from macroquant.brokers.registry import make_broker, secret_lookup, selected_options

    # the CLI's paper account persists between commands
    name, options = selected_options(args.broker, trading, settings.config_path, args.options,
                                     paper_state=settings.home / "paper_account.json")
    return make_broker(name, options, secret_lookup(conn), wall_clock)


def cmd_orders(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``macroquant orders <command>``."""
    from macroquant.db.connection import connect, database_url

    url = database_url(settings)
    trading = load_trading_config(settings.config_path)
    if args.orders_command == "list":
        account = args.broker or trading.broker.name
        with connect(url) as conn:
            rows = conn.execute(
                """SELECT o.client_order_id, o.broker, i.symbol, o.side, o.quantity, o.status,
                          o.filled_quantity, o.reason FROM orders o JOIN instruments i
                   USING (instrument_id)
                   WHERE (%s = 'all' OR o.status = ANY(%s)) AND (%s OR o.broker = %s)
                   ORDER BY o.as_of DESC, o.client_order_id LIMIT %s""",
                (args.status, list(OPEN_STATES), args.all_brokers, account,
                 args.limit)).fetchall()
        for r in rows:
            print(f"{r[0]:32} {r[1]:8} {r[2]:10} {r[3]:4} {r[4]:>12g} {r[5]:16} "
                  f"{r[6]:>10g} {r[7]}")
        return 0
    if args.orders_command == "locks":
        with connect(url) as conn:
            rows = conn.execute(
                """SELECT i.symbol, l.broker, l.locked_at, l.reason, l.details::text
                   FROM instrument_locks l JOIN instruments i USING (instrument_id)
                   WHERE l.resolved_at IS NULL ORDER BY i.symbol""").fetchall()
        for r in rows:
            print(f"{r[0]:10} {r[1]:8} {r[2]:%Y-%m-%d %H:%M} {r[3]:28} {r[4]}")
        print(f"{len(rows)} locked instrument(s)")
        return 0
    if args.orders_command == "unlock":
        from macroquant.cli_risk import confirm_person
        from macroquant.execution.reconcile import unlock

        confirm_person(url, args, "orders.unlock", f"instrument:{args.symbol}")
        with connect(url) as conn, conn.transaction():
            lock_id = unlock(conn, args.symbol, by=args.by, reason=args.reason,
                             at=wall_clock(), accept_broker_quantity=args.accept_broker_position)
        print(f"{args.symbol}: lock {lock_id} resolved by {args.by}")
        return 0
    from macroquant.execution.live import summary_counts, trade_session
    from macroquant.execution.oms import OrderManager
    from macroquant.execution.reconcile import reconcile
    from macroquant.pipeline.runner import EXIT_DEGRADED, degraded_reasons
    from macroquant.risk.order_gate import RiskLimits

    config = trading
    with connect(url) as conn:
        broker = _broker(args, conn, settings, trading)
    if args.orders_command == "reconcile":
        oms = OrderManager(url, broker, RiskLimits.from_config(config), run_id="cli-reconcile",
                           clock=wall_clock, equity=config.trading_capital)
        try:
            result = reconcile(oms, wall_clock)
        finally:
            oms.close()
        print(f"reconciliation with {broker.name}: {result.status}")
        for mismatch in result.mismatches:
            print(f"  LOCKED {mismatch['symbol']}: {mismatch}")
        return 0 if result.status == "ok" else 1
    summary = trade_session(url, broker, config, args.as_of, args.run_id or f"cli-{args.as_of}",
                            wall_clock)
    for key, value in summary.items():
        print(f"{key}: {value}")
    reasons = degraded_reasons(summary_counts(summary))
    for reason in reasons:
        print(f"NOT DONE: {reason}")
    return EXIT_DEGRADED if reasons else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``orders`` and its subcommands to the top-level parser."""
    orders = sub.add_parser("orders", help="orders, reconciliation, locks, live sessions")
    osub = orders.add_subparsers(dest="orders_command", required=True)
    listing = osub.add_parser("list", help="orders, newest first")
    listing.add_argument("--status", choices=["open", "all"], default="open")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--broker", choices=list(BROKERS),
                         help="whose orders (default: the trading config's broker)")
    listing.add_argument("--all-brokers", action="store_true", help="every broker's orders")
    osub.add_parser("locks", help="instruments locked by a reconciliation mismatch")
    unlock = osub.add_parser("unlock", help="resolve an instrument's lock (a person decides)")
    unlock.add_argument("symbol")
    unlock.add_argument("--by", required=True, help="who resolves it; once users exist, an "
                        "admin user, who confirms with a password")
    unlock.add_argument("--password-stdin", action="store_true",
                        help="read the admin's password from one line of standard input")
    unlock.add_argument("--reason", required=True, help="why it is safe to trade again")
    unlock.add_argument("--accept-broker-position", type=float, metavar="QTY",
                        help="record QTY (the broker's position) as the ledger's position")
    for name, text in (("reconcile", "compare orders, fills and positions with the broker"),
                       ("trade", "reconcile, then send the approved targets of --as-of")):
        cmd = osub.add_parser(name, help=text)
        cmd.add_argument("--broker", choices=list(BROKERS),
                         help="default: the trading config's broker (broker.name); another "
                              "live broker needs --options")
        cmd.add_argument("--options", type=Path,
                         help="YAML mapping of the broker's settings (not secrets); default: "
                              "the trading config's broker.options")
        if name == "trade":
            cmd.add_argument("--as-of", type=iso_date, required=True)
            cmd.add_argument("--run-id")
    orders.set_defaults(handler=cmd_orders)
