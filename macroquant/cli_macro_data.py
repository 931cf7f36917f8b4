"""CLI of the economic and alternative data vendors.

- ``macroquant econ series [--json]``: every economic series with its source, vintage kind
  and last ``realtime_start`` (added under the existing ``econ`` command).
- ``macroquant macro-data fetch VENDOR [--start D] [--end D] [--releases]``: run one vendor
  adapter now and store what it returns (economic vendors into ``economic_indicators``,
  ``alternative`` into ``alternative_data``); the scheduled path is the ingest stage.
"""

from __future__ import annotations

import argparse
import json
import sys

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings

ECONOMIC_VENDORS = ("fred", "world_bank", "eurostat", "bls", "parquet_files")
VENDORS = (*ECONOMIC_VENDORS, "alternative")



def cmd_econ_series(args: argparse.Namespace, settings: Settings) -> int:
    """List the stored economic series."""
    from macroquant.db.connection import connect, database_url
    from macroquant.economics.catalog import format_series, list_series

    with connect(database_url(settings)) as conn:
        frame = list_series(conn)
    if args.as_json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        print(format_series(frame))
    return 0


def cmd_fetch(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch one vendor now, through fetch control, and store its rows.

    Every ``data_sources`` row of the vendor's adapter (economic or alternative, enabled or
    not: this is a person asking) is fetched with its ``config``, key, rate limit and
    retries; a failure is printed and the command exits 1 after storing what did arrive."""
    from macroquant.db.bulk import upsert_rows
    from macroquant.db.connection import database_url, transaction
    from macroquant.pipeline.ingest import fetch_alternative, fetch_observations, stored_secrets
    from macroquant.sources import load_adapter
    from macroquant.sources.fetch import VENDOR_ERRORS, FetchController, load_source_specs

    if args.releases and args.vendor != "fred":
        print("error: --releases is only for fred", file=sys.stderr)
        return 2
    url = database_url(settings)
    adapter = load_adapter(args.vendor)
    with transaction(url) as conn:
        adapter.register(conn)
        specs = load_source_specs(conn)
        rows = [s for s in specs.values()
                if s.adapter == args.vendor and s.kind in ("economic", "alternative")]
        secrets = stored_secrets(conn, rows)
    controller = FetchController(specs, lookup_secret=secrets.get)
    counts: dict[str, int] = {}
    if args.vendor == "alternative":
        batches, outcomes = fetch_alternative(controller, rows, args.start, args.end)
        frames = []
    else:
        frames, outcomes = fetch_observations(controller, rows, args.start, args.end)
        batches = []
        counts["rows_fetched"] = sum(len(f) for f in frames)
    errors = [o.error for o in outcomes if not o.ok]
    with transaction(url) as conn:
        if args.vendor == "alternative":
            counts["alternative_data"] = sum(adapter.store_items(conn, items)
                                             for _, items in batches if not items.empty)
        else:
            counts["economic_indicators"] = sum(upsert_rows(
                conn, "economic_indicators", frame,
                ["series_id", "observation_date", "realtime_start"],
                ["value", "vintage_kind", "source_id"]) for frame in frames)
        if args.releases:
            try:
                counts.update(controller.call(rows[0].source_id, "sync_releases", conn))
            except VENDOR_ERRORS as error:
                errors.append(str(error))
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    print(json.dumps({"vendor": args.vendor, **counts}))
    return 1 if errors else 0


def _econ_subcommands(sub: argparse._SubParsersAction) -> argparse._SubParsersAction | None:
    """The sub-command list of the existing ``econ`` command, if it is there."""
    econ = sub.choices.get("econ")
    if econ is None:
        return None
    return next((a for a in econ._actions if isinstance(a, argparse._SubParsersAction)), None)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``econ series`` and ``macro-data fetch`` to the top-level parser."""
    econ_sub = _econ_subcommands(sub)
    if econ_sub is not None:
        series = econ_sub.add_parser("series", help="stored series: source, vintage kind, "
                                                    "last realtime_start")
        series.add_argument("--json", action="store_true", dest="as_json")
        series.set_defaults(handler=cmd_econ_series)

    macro = sub.add_parser("macro-data", help="economic and alternative data vendors")
    macro_sub = macro.add_subparsers(dest="macro_command", required=True)
    fetch = macro_sub.add_parser("fetch", help="fetch one vendor now and store its rows")
    fetch.add_argument("vendor", choices=VENDORS)
    fetch.add_argument("--start", type=iso_date, help="first date (vendor-specific meaning)")
    fetch.add_argument("--end", type=iso_date, help="keep only rows public by this date")
    fetch.add_argument("--releases", action="store_true",
                       help="fred: also store release names and publication dates")
    fetch.set_defaults(handler=cmd_fetch)
    series_cmd = macro_sub.add_parser("series", help="same as `econ series`")
    series_cmd.add_argument("--json", action="store_true", dest="as_json")
    series_cmd.set_defaults(handler=cmd_econ_series)
