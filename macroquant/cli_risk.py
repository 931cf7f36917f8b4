"""``macroquant risk status|halt|resume|exposure``: the kill switch and the exposure report."""

from __future__ import annotations

import argparse
import json

from macroquant.cli_args import iso_date, wall_clock
from macroquant.config.settings import Settings, load_trading_config


def confirm_person(url: str, args: argparse.Namespace, action: str, target: str) -> None:
    """``--by`` must name an admin who confirms with their password once users exist
    (:func:`macroquant.auth.person.confirm_admin`); the password comes from a hidden prompt,
    or one line of standard input with ``--password-stdin``."""
    import getpass
    import sys

    from macroquant.auth.person import confirm_admin

    def read_password(prompt: str) -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\r\n")
        return getpass.getpass(prompt)

    confirm_admin(url, args.by, action, target, at=wall_clock(), read_password=read_password)


def cmd_risk(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``macroquant risk ...``."""
    from macroquant.db.connection import database_url, transaction
    from macroquant.risk import kill_switch

    url = database_url(settings)
    if args.risk_command == "exposure":
        return _exposure(args, settings, url)
    if args.risk_command == "resume":
        confirm_person(url, args, "kill_switch.resume", "kill_switch")
    with transaction(url) as conn:
        if args.risk_command == "halt":
            done = kill_switch.halt(conn, reason=args.reason, actor=args.by, at=wall_clock())
        elif args.risk_command == "resume":
            done = kill_switch.resume(conn, actor=args.by, at=wall_clock(), reason=args.reason)
        else:
            done = kill_switch.status(conn)
        events = kill_switch.history(conn, limit=5)
    if args.json:
        print(json.dumps({"state": done.state.value, "since": done.since.isoformat(),
                          "actor": done.actor, "reason": done.reason,
                          "history": [{**e, "at": e["at"].isoformat(),
                                       "as_of": e["as_of"] and e["as_of"].isoformat()}
                                      for e in events]}, indent=2))
        return 0
    print(f"kill switch: {done.state.value} since {done.since:%Y-%m-%d %H:%M:%S %Z} "
          f"by {done.actor}: {done.reason}")
    for e in events:
        print(f"  {e['at']:%Y-%m-%d %H:%M:%S} {e['previous_state']:>8} -> {e['state']:<8} "
              f"by {e['actor']}: {e['reason']}")
    return 0


def _exposure(args: argparse.Namespace, settings: Settings, url: str) -> int:
    from macroquant.db.connection import connect
    from macroquant.risk.exposure import read_exposure

    capital = load_trading_config(settings.config_path).trading_capital
    with connect(url) as conn:
        report = read_exposure(conn, args.as_of, capital=capital)
    if args.json:
        out = {name: json.loads(frame.to_json(orient="index" if name != "meta" else "records"))
               for name, frame in report.items()}
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    meta = report["meta"].iloc[0]
    print(f"exposure as of {meta['as_of']} (positions of {meta['snapshot']}, equity "
          f"{meta['equity']:,.0f}); fractions of equity")
    for name in ("total", "asset_class", "instrument", "strategy"):
        frame = report[name]
        print(f"\n{name}:")
        print(frame.to_string(float_format=lambda x: f"{x:8.2%}") if not frame.empty
              else "  (none)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``risk`` and its subcommands to the top-level parser."""
    risk = sub.add_parser("risk", help="kill switch and exposure")
    risk_sub = risk.add_subparsers(dest="risk_command", required=True)
    status = risk_sub.add_parser("status", help="the kill switch's state and latest changes")
    status.add_argument("--json", action="store_true")
    for name, text in (("halt", "stop all trading now (open orders are cancelled)"),
                       ("resume", "re-arm trading after a halt or reduce (a person only)")):
        command = risk_sub.add_parser(name, help=text)
        command.add_argument("--by", required=True, help="your name (recorded); for resume, "
                             "once users exist: an admin user, who confirms with a password")
        command.add_argument("--reason", required=True, help="why (recorded)")
        command.add_argument("--json", action="store_true")
        if name == "resume":
            command.add_argument("--password-stdin", action="store_true",
                                 help="read the admin's password from one line of standard "
                                      "input instead of a hidden prompt")
    exposure = risk_sub.add_parser("exposure", help="gross, net and volatility contribution "
                                                    "by asset class, instrument, strategy")
    exposure.add_argument("--as-of", type=iso_date, required=True)
    exposure.add_argument("--json", action="store_true")
    risk.set_defaults(handler=cmd_risk)
