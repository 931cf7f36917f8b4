"""CLI of the market data vendors and fetch control, added to ``macroquant`` by
:func:`register`:

- ``macroquant sources list``: every data source with enabled, priority, rate limit, key
  name, fallback, the latest date it delivered bars for and its last failure;
- ``macroquant sources register``: insert the vendor adapters' rows (disabled);
- ``macroquant sources enable|disable SOURCE``;
- ``macroquant fetch SOURCE [--symbols A B] --start D --end D``: fetch bars through fetch
  control (rate limit, retries, fallback) and print them as CSV, writing nothing; a quick
  check of a key or a symbol map;
- ``macroquant intraday refresh [--as-of TIME]``: one intraday refresh (see
  macroquant.pipeline.intraday).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings

VENDOR_ADAPTERS = ("yahoo", "alpha_vantage", "ccxt_exchange")



def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO time "
                                         "(e.g. 2024-03-15T14:00Z)") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"'{text}' has no time zone (add Z or +00:00)")
    return moment


def register_vendor_sources(url: str) -> list[str]:
    """Insert the vendor adapters' data_sources rows (existing rows keep their settings)."""
    from macroquant.db.connection import transaction
    from macroquant.sources import load_adapter

    with transaction(url) as conn:
        for name in VENDOR_ADAPTERS:
            load_adapter(name).register(conn)
        return [r[0] for r in conn.execute(
            "SELECT source_id FROM data_sources WHERE adapter = ANY(%s) ORDER BY 1",
            (list(VENDOR_ADAPTERS),)).fetchall()]


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from macroquant.db.connection import database_url, transaction
    from macroquant.status import print_source_health

    url = database_url(settings)
    console = Console(highlight=False)
    if args.sources_command == "register":
        console.print("registered (disabled until enabled): "
                      + ", ".join(register_vendor_sources(url)))
        return 0
    if args.sources_command in ("enable", "disable"):
        register_vendor_sources(url)
        with transaction(url) as conn:
            changed = conn.execute("UPDATE data_sources SET enabled = %s WHERE source_id = %s",
                                   (args.sources_command == "enable", args.source)).rowcount
        if not changed:
            print(f"error: no data source '{args.source}' (see: macroquant sources list)",
                  file=sys.stderr)
            return 1
        console.print(f"{args.source}: {args.sources_command}d")
        return 0
    print_source_health(settings, console)
    return 0


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.db.connection import database_url, transaction
    from macroquant.sources.fetch import BarRequest, FetchController, load_source_specs

    if args.end < args.start:
        print("error: --end is before --start", file=sys.stderr)
        return 2
    url = database_url(settings)
    register_vendor_sources(url)
    with transaction(url) as conn:
        specs = load_source_specs(conn)
        if args.source not in specs:
            print(f"error: no data source '{args.source}' (see: macroquant sources list)",
                  file=sys.stderr)
            return 1
        from macroquant.pipeline.ingest import stored_secrets

        secrets = stored_secrets(conn, [specs[args.source]])
    controller = FetchController(specs, lookup_secret=secrets.get)
    symbols = tuple(args.symbols) if args.symbols else None
    result = controller.fetch_bars(args.source, [BarRequest(args.start, args.end, symbols)])
    result.bars.to_csv(sys.stdout, index=False, date_format="%Y-%m-%d")
    for failure in result.failures:
        print(f"error: {failure.error}", file=sys.stderr)
    return 1 if result.failures and result.bars.empty else 0


def cmd_intraday(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.pipeline.intraday import refresh_latest_bars

    as_of = args.as_of or datetime.now(UTC)  # the CLI's default, not stage logic
    counts = refresh_latest_bars(settings, as_of)
    print(f"intraday refresh at {as_of.isoformat()}: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the top-level parser."""
    sources = sub.add_parser("sources", help="data sources: list, register, enable, disable")
    sources_sub = sources.add_subparsers(dest="sources_command", required=True)
    sources_sub.add_parser("list", help="sources with limits, last delivery, last failure")
    sources_sub.add_parser("register", help="add the vendor adapters' rows (disabled)")
    for action in ("enable", "disable"):
        toggle = sources_sub.add_parser(action, help=f"{action} a data source")
        toggle.add_argument("source")
    sources.set_defaults(handler=cmd_sources)

    fetch = sub.add_parser("fetch", help="fetch bars from one source and print them as CSV "
                                         "(writes nothing)")
    fetch.add_argument("source")
    fetch.add_argument("--symbols", nargs="+", help="MacroQuant symbols (default: the "
                                                    "source's symbol map)")
    fetch.add_argument("--start", type=iso_date, required=True)
    fetch.add_argument("--end", type=iso_date, required=True)
    fetch.set_defaults(handler=cmd_fetch)

    intraday = sub.add_parser("intraday", help="intraday bar refresh")
    intraday_sub = intraday.add_subparsers(dest="intraday_command", required=True)
    refresh = intraday_sub.add_parser("refresh", help="refresh today's bars of open markets")
    refresh.add_argument("--as-of", type=_aware_time, default=None,
                         help="ISO time with zone (default: now)")
    intraday.set_defaults(handler=cmd_intraday)
