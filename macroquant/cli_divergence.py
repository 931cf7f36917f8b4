"""``macroquant divergence --start D --end D [--broker NAME]``: the divergence monitor's
table for any window — how far each account's real fills are from the engine's fill model
(:mod:`macroquant.reports.divergence`). Computed from the stored orders, fills and bars;
the reports stage stores the same table daily in ``divergence``."""

from __future__ import annotations

import argparse

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings
from macroquant.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``divergence`` to the top-level parser."""
    parser = sub.add_parser("divergence", help="each account's fills against the engine's "
                            "fill model, by cause (the shadow book)")
    parser.add_argument("--start", type=iso_date, required=True)
    parser.add_argument("--end", type=iso_date, required=True)
    parser.add_argument("--broker", help="one account (default: every broker with orders)")
    parser.set_defaults(handler=cmd_divergence)


def cmd_divergence(args: argparse.Namespace, settings: Settings) -> int:
    """Print the totals per account and cause, and the worst sessions; exit 1 when the
    paper account diverges (it is the model)."""
    from macroquant.config.settings import load_trading_config
    from macroquant.db.connection import database_url, transaction
    from macroquant.pipeline.divergence import PAPER_TOLERANCE, account_divergence
    from macroquant.reports.divergence import divergence_summary

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    trading = load_trading_config(settings.config_path)
    with transaction(database_url(settings)) as conn:
        table = account_divergence(conn, trading, args.start, args.end)
    if args.broker:
        table = table[table["broker"] == args.broker]
    if table.empty:
        print(f"no order was sent for {args.start}..{args.end}"
              + (f" on broker {args.broker}" if args.broker else ""))
        return 0
    code = 0
    print(f"divergence {args.start}..{args.end} (positive: the account did worse than the "
          "model)")
    for broker, rows in table.groupby("broker"):
        totals = divergence_summary(rows)
        print(f"  {broker:<8} " + "  ".join(f"{cause} {value:,.2f}"
                                           for cause, value in totals.items())
              + f"  total {totals.sum():,.2f} over {rows['as_of'].nunique()} sessions")
        daily = rows.groupby("as_of")["amount"].sum()
        worst = daily.abs().sort_values(ascending=False).head(3)
        if worst.iloc[0] > PAPER_TOLERANCE:
            print("           worst sessions: " + ", ".join(
                f"{day} {daily[day]:,.2f}" for day in worst.index))
        if broker == "paper" and rows["amount"].abs().max() > PAPER_TOLERANCE:
            print("           the paper account should equal the model: report this as a bug")
            code = 1
    return code
