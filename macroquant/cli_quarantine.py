"""``macroquant quarantine list|show|accept|drop``: the bars that failed a data check,
where each came from (file or source, line), and a person's decision on them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from macroquant.cli_args import iso_date, wall_clock
from macroquant.config.settings import Settings


def _where(bar: dict[str, Any]) -> str:
    """``file:line`` for a file's row, ``source row N`` for a source's batch."""
    if bar["line"] is not None:
        return f"{bar['origin']}:{bar['line']}"
    return f"source {bar['origin'] or bar['source_id']} row {bar['row_number']}"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def cmd_quarantine(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``macroquant quarantine ...``."""
    from macroquant.db.connection import connect, database_url, transaction
    from macroquant.validation import quarantine

    url = database_url(settings)
    if args.quarantine_command == "list":
        with connect(url) as conn:
            bars = quarantine.list_bars(
                conn, status=None if args.status == "all" else args.status,
                symbol=args.symbol, start=args.start, end=args.end, limit=args.limit)
        if args.json:
            print(json.dumps([_jsonable(b) for b in bars], indent=2))
            return 0
        if not bars:
            print(f"no {'' if args.status == 'all' else args.status + ' '}quarantined bar")
            return 0
        for b in bars:
            decided = (f" ({b['status']} by {b['decided_by']} {b['decided_at']:%Y-%m-%d})"
                       if b["status"] != "open" else "")
            print(f"{b['id']:>7}  as_of {b['as_of']}  {b['symbol'] or '(no symbol)':<8} "
                  f"{str(b['trade_date'] or ''):<10}  {b['checks']}{decided}  {_where(b)}")
        print(f"{len(bars)} bar(s); details: macroquant quarantine show ID; decide: "
              "macroquant quarantine accept|drop ID... --by NAME")
        return 0
    if args.quarantine_command == "show":
        with connect(url) as conn:
            rows = quarantine.bar_rows(conn, args.ids[0])
        if args.json:
            print(json.dumps([_jsonable(r) for r in rows], indent=2))
            return 0
        first = rows[0]
        print(f"quarantined bar {first['quarantine_id']}: {first['symbol']} "
              f"{first['trade_date']} (as_of {first['as_of']}, dataset {first['dataset']})")
        print(f"  from:    {_where({**first, 'id': first['quarantine_id']})}")
        print(f"  status:  {first['status']}" + (
            f" by {first['decided_by']} at {first['decided_at']:%Y-%m-%d %H:%M} UTC"
            if first["status"] != "open" else ""))
        for r in rows:
            print(f"  check:   {r['check_name']}: {r['reason']}")
        print(f"  values:  {json.dumps(first['raw_row'])}")
        return 0
    decision = "accepted" if args.quarantine_command == "accept" else "dropped"
    with transaction(url) as conn:
        done = quarantine.decide(conn, args.ids, decision, actor=args.by, at=wall_clock())
    for bar in done:
        what = "published into market_data" if decision == "accepted" else "discarded"
        print(f"{bar['id']}: {bar['symbol']} {bar['trade_date']} {decision} by {args.by} "
              f"({what}; checks: {', '.join(bar['checks'])})")
    if decision == "accepted":
        print("rerun the signals stage for those dates (macroquant run daily --as-of DATE) to "
              "trade the instruments again")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``quarantine`` and its subcommands to the top-level parser."""
    parser = sub.add_parser("quarantine", help="bars that failed a data check: list, show, "
                                               "accept (publish) or drop them")
    commands = parser.add_subparsers(dest="quarantine_command", required=True)
    listing = commands.add_parser("list", help="quarantined bars with their file/source "
                                               "and line")
    listing.add_argument("--status", choices=["open", "accepted", "dropped", "all"],
                         default="open")
    listing.add_argument("--symbol")
    listing.add_argument("--start", type=iso_date, help="first as_of date")
    listing.add_argument("--end", type=iso_date, help="last as_of date")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="one bar: every check it failed, its values")
    show.add_argument("ids", type=int, nargs=1, metavar="ID")
    show.add_argument("--json", action="store_true")
    for name, text in (("accept", "publish the bars as received into market_data "
                                  "(audited)"),
                       ("drop", "discard the bars (audited)")):
        command = commands.add_parser(name, help=text)
        command.add_argument("ids", type=int, nargs="+", metavar="ID")
        command.add_argument("--by", required=True, help="your name (recorded)")
    parser.set_defaults(handler=cmd_quarantine)
