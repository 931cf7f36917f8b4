"""``macroquant ingest econ-csv FILE``: load point-in-time economic vintages from a CSV.

Columns ``series_id,date,value,realtime_start`` (any order, extra columns ignored), one
vintage per row: ``date`` is the observation date, ``realtime_start`` the day the value
became public (ISO ``YYYY-MM-DD`` both). A revision is a new row with a later
``realtime_start``; stored rows are never overwritten. A row identical to a stored one (or
repeated in the file) is a no-op. The whole file is checked first and loaded in one
transaction: any problem loads nothing.
"""

from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.errors import MacroQuantError

REQUIRED_COLUMNS = ("series_id", "date", "value", "realtime_start")
CSV_SOURCE_ID = "csv"
_MAX_REPORTED = 20


class EconCsvError(MacroQuantError):
    """A malformed economic CSV. ``problems`` lists (line, column, message), first first."""

    def __init__(self, path: str, problems: list[tuple[int, str, str]]) -> None:
        self.path = path
        self.problems = problems
        shown = [f"{path}: line {line}, column '{column}': {message}"
                 for line, column, message in problems[:_MAX_REPORTED]]
        more = len(problems) - len(shown)
        tail = f"\n... and {more} more problems" if more > 0 else ""
        super().__init__("economic CSV rejected, nothing loaded:\n" + "\n".join(shown) + tail)


def infer_frequency(observation_dates: pd.Series) -> str:
    """Frequency from the median gap between distinct observation dates: <= 3 days daily,
    <= 10 weekly, <= 45 monthly, <= 135 quarterly, else annual; 'monthly' with fewer than
    two dates (nothing to infer from)."""
    distinct = pd.Series(pd.to_datetime(observation_dates).unique()).sort_values()
    if len(distinct) < 2:
        return "monthly"
    gap = distinct.diff().dropna().dt.days.median()
    for limit, name in ((3, "daily"), (10, "weekly"), (45, "monthly"), (135, "quarterly")):
        if gap <= limit:
            return name
    return "annual"


def _parse_date(text: str) -> date:
    return date.fromisoformat(text.strip())


def parse_econ_csv(path: Path) -> pd.DataFrame:
    """Read and check the file; return its distinct rows (columns ``series_id,
    observation_date, realtime_start, value, line``; identical repeats kept) or raise :class:`EconCsvError`."""
    name = str(path)
    problems: list[tuple[int, str, str]] = []
    records: list[tuple[str, date, date, float, int]] = []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise EconCsvError(name, [(0, "-", f"cannot read the file: {exc.strerror}")]) from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise EconCsvError(name, [(1, c, f"missing column (header is {header})")
                                      for c in missing])
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            if None in row or any(row.get(c) is None for c in REQUIRED_COLUMNS):
                problems.append((line, "-", f"expected {len(header)} fields"))
                continue
            before = len(problems)
            series_id = row["series_id"].strip()
            if not series_id:
                problems.append((line, "series_id", "empty series_id"))
            parsed: dict[str, date] = {}
            for column in ("date", "realtime_start"):
                try:
                    parsed[column] = _parse_date(row[column])
                except ValueError:
                    problems.append((line, column, f"'{row[column]}' is not a date "
                                                   "(use YYYY-MM-DD)"))
            try:
                value = float(row["value"])
                if not math.isfinite(value):
                    raise ValueError
            except ValueError:
                problems.append((line, "value", f"'{row['value']}' is not a finite number"))
                value = math.nan
            if len(parsed) == 2 and parsed["realtime_start"] < parsed["date"]:
                problems.append((line, "realtime_start",
                                 f"{parsed['realtime_start']} is before the observation date "
                                 f"{parsed['date']} (a value cannot be public before the "
                                 "period it describes starts)"))
            if len(problems) == before:
                records.append((series_id, parsed["date"], parsed["realtime_start"], value,
                                line))
    frame = pd.DataFrame(records, columns=["series_id", "observation_date", "realtime_start",
                                           "value", "line"])
    key = ["series_id", "observation_date", "realtime_start"]
    first = frame.drop_duplicates(key, keep="first").set_index(key)
    joined = frame.join(first[["value", "line"]], on=key, rsuffix="_first")
    clash = joined.loc[joined["value"] != joined["value_first"]]
    problems += [(int(r.line), "value", f"{r.value!r} for {r.series_id} {r.observation_date} "
                  f"realtime_start {r.realtime_start} differs from {r.value_first!r} on line "
                  f"{int(r.line_first)} (a revision needs a new realtime_start)")
                 for r in clash.itertuples()]
    if problems:
        raise EconCsvError(name, sorted(problems))
    if frame.empty:
        raise EconCsvError(name, [(2, "-", "no data rows")])
    return frame


def _ensure_series(conn: psycopg.Connection, rows: pd.DataFrame, path: Path) -> list[str]:
    """Create the ``csv`` data source (the rows' source_id) and any unknown series."""
    known = set(read_frame(conn, "SELECT series_id FROM economic_series WHERE series_id = ANY(%s)",
                           (sorted(rows["series_id"].unique()),))["series_id"]
                if len(rows) else [])
    created = sorted(set(rows["series_id"]) - known)
    # Disabled: the pipeline's scheduled fetch skips it (files arrive by command, not a feed).
    conn.execute(
        """INSERT INTO data_sources (source_id, kind, adapter, description, enabled)
           VALUES (%s, 'economic', 'csv', %s, false) ON CONFLICT (source_id) DO NOTHING""",
        (CSV_SOURCE_ID, "Point-in-time economic vintages loaded by `macroquant ingest econ-csv`"),
    )
    for series_id in created:
        frequency = infer_frequency(rows.loc[rows["series_id"] == series_id, "observation_date"])
        conn.execute(
            """INSERT INTO economic_series (series_id, name, frequency, units, source_id, notes)
               VALUES (%s, %s, %s, %s, %s, %s)""",
            (series_id, series_id, frequency, "unspecified", CSV_SOURCE_ID,
             f"created by ingest econ-csv from {path.name}; frequency inferred from the dates"),
        )
    return created


def load_econ_csv(conn: psycopg.Connection, path: str | Path) -> dict:
    """Load the vintages in ``path`` (see the module docstring) in one transaction.

    Returns ``{"file", "rows_read", "inserted", "unchanged", "repeated_in_file", "series",
    "series_created"}`` (``unchanged``: distinct rows already stored identically).
    Raises :class:`EconCsvError` naming file, line and column for a malformed file or a row
    that would overwrite a stored vintage with a different value; nothing is written then.
    """
    path = Path(path)
    parsed = parse_econ_csv(path)
    rows = parsed.drop_duplicates(["series_id", "observation_date", "realtime_start"])
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS _econ_csv_stage")
        conn.execute("""CREATE TEMP TABLE _econ_csv_stage (
                            series_id text, observation_date date, realtime_start date,
                            value double precision, line integer) ON COMMIT DROP""")
        copy_rows(conn, "_econ_csv_stage", rows.astype({"line": np.int64}),
                  ["series_id", "observation_date", "realtime_start", "value", "line"])
        clashes = read_frame(conn, """
            SELECT s.line, s.series_id, s.observation_date, s.realtime_start, s.value,
                   e.value AS stored, e.vintage_kind
              FROM _econ_csv_stage s
              JOIN economic_indicators e USING (series_id, observation_date, realtime_start)
             WHERE e.value <> s.value ORDER BY s.line""")
        if not clashes.empty:
            raise EconCsvError(str(path), [
                (int(r.line), "value", f"{r.value!r} for {r.series_id} {r.observation_date} "
                 f"realtime_start {r.realtime_start} would overwrite the stored {r.stored!r} "
                 f"({r.vintage_kind}); a revision needs a new realtime_start")
                for r in clashes.itertuples()])
        created = _ensure_series(conn, rows, path)
        inserted = conn.execute(
            """INSERT INTO economic_indicators
                   (series_id, observation_date, realtime_start, value, vintage_kind, source_id)
               SELECT series_id, observation_date, realtime_start, value, 'vintage', %s
                 FROM _econ_csv_stage
               ON CONFLICT (series_id, observation_date, realtime_start) DO NOTHING""",
            (CSV_SOURCE_ID,)).rowcount
    return {"file": str(path), "rows_read": len(parsed), "inserted": inserted,
            "unchanged": len(rows) - inserted, "repeated_in_file": len(parsed) - len(rows), "series": int(rows["series_id"].nunique()),
            "series_created": created}
