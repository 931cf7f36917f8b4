"""CLI of data quality, added to ``macroquant`` by :func:`register`:

- ``macroquant data-quality suite --dataset market_data --as-of D [--json]``: run the
  great-expectations market-bars suite over the staged bars of pipeline date ``D``
  (``market_data_staging`` rows with ``as_of = D``, all sources);
- ``macroquant data-quality suite --dataset economic --as-of D [--json]``: run the
  economic-observations suite over every vintage public by ``D``
  (``economic_indicators`` rows with ``realtime_start <= D``).

Exit code 0 when every check passes, 1 when one fails (the failing rows are listed by
``source_id/as_of/row_number`` for bars and ``series_id/observation_date/realtime_start``
for observations). The pipeline's gate is the SQL audit; this suite is its declared form
(see docs/data-quality.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any

import pandas as pd

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings

_SHOWN_ROWS = 10



def run_dataset_suite(settings: Settings, dataset: str, as_of: date) -> tuple[Any, pd.Series]:
    """Read the dataset's rows for ``as_of`` and run its suite; return the result and a
    readable id per row (indexed like the frame)."""
    from macroquant.db.bulk import read_frame
    from macroquant.db.connection import database_url, transaction
    from macroquant.validation import expectations

    with transaction(database_url(settings)) as conn:
        if dataset == expectations.MARKET_DATASET:
            rows = read_frame(conn, """SELECT source_id, as_of, row_number, symbol, trade_date,
                                              open, high, low, close, adj_close, volume
                                       FROM market_data_staging WHERE as_of = %s
                                       ORDER BY source_id, row_number""", (as_of,))
            known = [s for (s,) in conn.execute("SELECT symbol FROM instruments")]
        else:
            rows = read_frame(conn, """SELECT series_id, observation_date, realtime_start,
                                              value, vintage_kind, source_id
                                       FROM economic_indicators WHERE realtime_start <= %s
                                       ORDER BY series_id, observation_date, realtime_start""",
                              (as_of,))
    if dataset == expectations.MARKET_DATASET:
        rows = rows.astype({c: "float64" for c in ("open", "high", "low", "close", "adj_close",
                                                   "volume")})
        result = expectations.validate_market_bars(rows, known)
        labels = (rows["source_id"] + "/" + rows["as_of"].astype(str) + "/"
                  + rows["row_number"].astype(str))
    else:
        rows = rows.astype({"value": "float64"})
        result = expectations.validate_economic(rows)
        labels = (rows["series_id"] + "/" + rows["observation_date"].astype(str) + "/"
                  + rows["realtime_start"].astype(str))
    return result, labels


def cmd_data_quality(args: argparse.Namespace, settings: Settings) -> int:
    """``macroquant data-quality suite``: 0 when every check passes, else 1."""
    result, labels = run_dataset_suite(settings, args.dataset, args.as_of)
    summary = result.to_dict(labels)
    summary["as_of"] = args.as_of.isoformat()
    if args.as_json:
        print(json.dumps(summary, indent=2))
        return 0 if result.success else 1
    print(f"{args.dataset} suite as of {args.as_of}: {summary['rows']} rows, "
          f"{'passed' if result.success else 'FAILED'}")
    for check in summary["checks"]:
        failing = check["failing_rows"]
        shown = ", ".join(map(str, failing[:_SHOWN_ROWS]))
        more = f" … (+{len(failing) - _SHOWN_ROWS})" if len(failing) > _SHOWN_ROWS else ""
        status = "ok" if check["success"] else f"FAILED ({len(failing)} rows) {shown}{more}"
        print(f"  {check['check']:<20} {status}", file=sys.stdout)
    return 0 if result.success else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data-quality`` to the top-level parser."""
    quality = sub.add_parser("data-quality", help="great-expectations suites per dataset")
    quality_sub = quality.add_subparsers(dest="quality_command", required=True)
    suite = quality_sub.add_parser("suite", help="run a dataset's suite for a date")
    suite.add_argument("--dataset", choices=["market_data", "economic"], required=True)
    suite.add_argument("--as-of", type=iso_date, required=True)
    suite.add_argument("--json", action="store_true", dest="as_json")
    quality.set_defaults(handler=cmd_data_quality)
