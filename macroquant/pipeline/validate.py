"""Stage 2 — validate: audit staged bars, quarantine failures, publish the rest.

Input: ``market_data_staging`` rows with ``as_of`` in the window; ``instruments``.
Output: ``market_data`` (passing rows, upserted: unchanged rows are left untouched),
``quarantine`` (each failing row with the check and the reason), ``data_checks`` (per date
and check: rows checked and failed).
Idempotency key: ``as_of`` in the window (quarantine and data_checks are replaced).

Nothing is dropped silently: rows in = rows published + rows quarantined, returned in the
stage's counts. If any row was quarantined, the stage commits what it found and then
raises :class:`DataQualityError`, so the run stops before signals and no order is sent.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from macroquant.db.bulk import copy_rows, read_frame, upsert_rows
from macroquant.db.connection import transaction
from macroquant.errors import DataQualityError
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.logs import write_system_log
from macroquant.validation.checks import run_checks

MARKET_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


def _raw_rows(failed: pd.DataFrame) -> list[str]:
    columns = ["symbol", "trade_date", *MARKET_COLUMNS]
    records = failed[columns].astype(object).where(failed[columns].notna(), None)
    return [json.dumps({k: (str(v) if k == "trade_date" and v is not None else v)
                        for k, v in row.items()}, sort_keys=True)
            for row in records.to_dict("records")]


def run(context: StageContext) -> dict[str, int]:
    """Check the window's staged bars; publish passing rows; quarantine failing rows."""
    with transaction(context.url) as conn:
        staged = read_frame(conn, """SELECT source_id, as_of, row_number, symbol, trade_date,
                                            open, high, low, close, adj_close, volume
                                     FROM market_data_staging
                                     WHERE as_of BETWEEN %s AND %s
                                     ORDER BY source_id, as_of, row_number""",
                            (context.start, context.end))
        instruments = read_frame(conn, "SELECT instrument_id, symbol FROM instruments")
        for column in ("as_of", "trade_date"):
            staged[column] = pd.to_datetime(staged[column])
        for column in MARKET_COLUMNS:
            staged[column] = staged[column].astype(float)

        failures, summary = run_checks(staged, set(instruments["symbol"]))
        failed_keys = failures[["source_id", "as_of", "row_number"]].drop_duplicates()
        is_failed = staged.merge(failed_keys, how="left", indicator=True)["_merge"].eq("both")
        passing = staged.loc[~is_failed.to_numpy()]

        conn.execute("DELETE FROM quarantine WHERE as_of BETWEEN %s AND %s",
                     (context.start, context.end))
        conn.execute("DELETE FROM data_checks WHERE dataset = 'market_data' "
                     "AND as_of BETWEEN %s AND %s", (context.start, context.end))
        if not failures.empty:
            failures = failures.assign(raw_row=_raw_rows(failures), dataset="market_data")
            copy_rows(conn, "quarantine", failures,
                      ["source_id", "as_of", "row_number", "check_name", "dataset", "symbol",
                       "trade_date", "reason", "raw_row"])
        copy_rows(conn, "data_checks",
                  _checks_per_date(staged, failures, summary, context.sessions),
                  ["as_of", "dataset", "check_name", "rows_checked", "rows_failed", "passed"])

        published = passing.merge(instruments, on="symbol", how="inner")
        changed = upsert_rows(conn, "market_data", published, ["instrument_id", "trade_date"],
                              [*MARKET_COLUMNS, "source_id"])
        quarantined_rows = len(failed_keys)
        if quarantined_rows:
            bad_dates = sorted({d.date().isoformat() for d in failed_keys["as_of"]})
            write_system_log(conn, "WARNING", "macroquant.pipeline.validate",
                             f"{quarantined_rows} rows quarantined", context.run_id,
                             {"dates": bad_dates[:50]})

    counts = {"rows_in": len(staged), "published": len(passing),
              "quarantined": quarantined_rows, "market_data_changed": changed}
    if quarantined_rows:
        reasons = failures.groupby("check_name").size().to_dict()
        raise DataQualityError(
            f"validate: {quarantined_rows} of {len(staged)} staged rows quarantined "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(reasons.items()))}) on "
            f"{', '.join(bad_dates[:10])}{' …' if len(bad_dates) > 10 else ''}; "
            "the run stops before signals. The rows and reasons are in the quarantine "
            f"table (as_of {context.start} to {context.end})."
        )
    return counts


def _checks_per_date(staged: pd.DataFrame, failures: pd.DataFrame, summary: pd.DataFrame,
                     sessions: list) -> pd.DataFrame:
    """One data_checks row per (date, check): rows checked and failed that date, for every
    session of the window (a session with no rows is recorded with zero rows checked)."""
    dates = pd.DatetimeIndex(sorted(set(staged["as_of"]) | set(pd.to_datetime(sessions))))
    checks = summary["check_name"].tolist()
    checked = staged.groupby("as_of").size().reindex(dates, fill_value=0)
    failed = (failures.groupby(["as_of", "check_name"]).size()
              .reindex(pd.MultiIndex.from_product([dates, checks]), fill_value=0))
    frame = failed.rename("rows_failed").reset_index()
    frame.columns = ["as_of", "check_name", "rows_failed"]
    frame["rows_checked"] = checked.reindex(frame["as_of"]).to_numpy()
    frame["passed"] = np.where(frame["rows_failed"].eq(0), "true", "false")
    frame["dataset"] = "market_data"
    return frame
