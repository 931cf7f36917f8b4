"""CLI: ``macroquant report daily|weekly`` and ``macroquant attribution``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings

DIMENSIONS = ("strategy", "signal_type", "asset_class", "instrument")



def report_refusal(conn, kind: str, as_of: date) -> str | None:
    """Why no ``kind`` report can be made for ``as_of`` (None if it can): the paper account
    has no result in the report's period, so the report would be empty."""
    from macroquant.reports.report_builder import period_start

    first = period_start(kind, as_of)
    found, earliest, latest = conn.execute(
        """SELECT bool_or(as_of BETWEEN %s AND %s), min(as_of), max(as_of) FROM performance
           WHERE scope = 'portfolio'""", (first, as_of)).fetchone()
    if found:
        return None
    held = (f"the paper account has results from {earliest} to {latest}" if earliest
            else "the paper account has no result yet")
    return (f"no {kind} report for {as_of}: no paper-account result in {first}..{as_of} "
            f"({held}); run the pipeline for that date first (macroquant run daily --as-of "
            f"{as_of}). Nothing was written.")


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.cli_args import wall_clock
    from macroquant.config.settings import load_trading_config
    from macroquant.db.connection import database_url, transaction
    from macroquant.pipeline.preflight import daily_session
    from macroquant.reports.report_builder import write_report

    as_of = daily_session(args.as_of, wall_clock().date())
    url = database_url(settings)
    with transaction(url) as conn:
        refusal = report_refusal(conn, args.kind, as_of)
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return 1
        files = write_report(conn, settings.reports_dir, args.kind, as_of,
                             load_trading_config(settings.config_path))
    print(f"{args.kind} report of {as_of} (from {files.summary['period_start']}):")
    print(f"  HTML  {files.html}")
    print(f"  PDF   {files.pdf}")
    if args.email:
        from macroquant.reports.email import (
            PASSWORD_SECRET,
            build_message,
            send_message,
            smtp_config_from_env,
        )
        from macroquant.security.secrets import get_secret

        config = smtp_config_from_env(os.environ)

        def password() -> str:
            with transaction(url) as conn:
                return get_secret(conn, PASSWORD_SECRET)

        pnl = files.summary["period_pnl"]
        body = (f"MacroQuant {args.kind} report for {as_of}.\n"
                f"Equity {files.summary['equity']:,.2f}; P&L over the period {pnl:,.2f}.\n"
                "The HTML and PDF reports are attached.\n")
        message = build_message(config, f"MacroQuant {args.kind} report {as_of}", body,
                                 [files.pdf, files.html])
        send_message(config, message, password if config.user else None)
        print(f"  sent to {', '.join(config.recipients)}")
    return 0


def cmd_attribution(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.db.connection import database_url, transaction
    from macroquant.reports.attribution_data import load_attribution

    if args.end < args.start:
        print("error: --end is before --start", file=sys.stderr)
        return 2
    with transaction(database_url(settings)) as conn:
        attribution = load_attribution(conn, args.start, args.end)
    if attribution.portfolio_pnl.empty:
        print(f"error: no portfolio performance between {args.start} and {args.end}; run the "
              "pipeline first", file=sys.stderr)
        return 1
    tables = attribution.tables()
    chosen = [args.by] if args.by else list(DIMENSIONS)
    if args.json:
        payload = {name: {str(row): {k: (None if v != v else float(v)) for k, v in values.items()}
                          for row, values in tables[name].to_dict(orient="index").items()}
                   for name in chosen}
        print(json.dumps({"start": args.start.isoformat(), "end": args.end.isoformat(),
                          **payload}, indent=2))
        return 0
    for name in chosen:
        print(f"\nBy {name.replace('_', ' ')} ({args.start} to {args.end}):")
        print(tables[name].to_string(float_format=lambda v: f"{v:,.4f}"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` and ``attribution``."""
    report = sub.add_parser("report", help="write the daily or weekly report (HTML and PDF)")
    report.add_argument("kind", choices=["daily", "weekly"])
    report.add_argument("--as-of", type=iso_date, required=True,
                        help="the report's day (a non-session means the session before)")
    report.add_argument("--email", action="store_true",
                        help="also send it over SMTP (MACROQUANT_SMTP_* settings)")
    report.set_defaults(handler=cmd_report)

    attribution = sub.add_parser("attribution",
                                 help="P&L and risk contribution over a period")
    attribution.add_argument("--start", type=iso_date, required=True)
    attribution.add_argument("--end", type=iso_date, required=True)
    attribution.add_argument("--by", choices=DIMENSIONS, help="one dimension (default: all)")
    attribution.add_argument("--json", action="store_true")
    attribution.set_defaults(handler=cmd_attribution)
