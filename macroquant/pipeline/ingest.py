"""Stage 1 — ingest: fetch daily bars and economic observations from every enabled source.

Input: the sources named by enabled ``data_sources`` rows (adapters in macroquant.sources).
Output: ``market_data_staging`` (bars, published later by validate) and
``economic_indicators`` (point-in-time rows public by the window's end; a revision is a
new vintage row).
Idempotency key: (source_id, as_of) for staging — the window's rows are replaced;
(series_id, observation_date, realtime_start) for economic rows — upserted.

A window ``start..end`` fetches bars dated after the session before ``start`` up to
``end``, so a holiday of one market that is a weekday elsewhere is not skipped.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from macroquant.calendars import previous_session, session_on_or_after
from macroquant.config.settings import Settings
from macroquant.db.bulk import copy_rows, read_frame, upsert_rows
from macroquant.db.connection import transaction
from macroquant.pipeline.context import StageContext
from macroquant.sources import load_adapter, sample

STAGING_COLUMNS = ["source_id", "as_of", "row_number", "symbol", "trade_date", "open", "high",
                   "low", "close", "adj_close", "volume"]
# Earliest date of the bundled history (WTI starts in 1986).
HISTORY_START = date(1985, 1, 2)


def fetch_span(start: date, end: date) -> tuple[date, date]:
    """Calendar dates a window fetches: from the day after the previous session to ``end``."""
    return previous_session(start) + timedelta(days=1), end


def assign_as_of(trade_dates: pd.Series, start: date, end: date) -> pd.Series:
    """The pipeline date each fetched bar belongs to: the first session on which it is
    available (its own date, or the next session for a bar dated on a holiday), kept inside
    the window; a bar dated after ``end`` stays at ``end`` and fails the future-timestamp
    check."""
    unique = pd.Series(pd.unique(trade_dates.dropna()))
    mapping = {ts: pd.Timestamp(session_on_or_after(ts.date())) for ts in unique}
    as_of = trade_dates.map(mapping)
    return as_of.fillna(pd.Timestamp(end)).clip(pd.Timestamp(start), pd.Timestamp(end))


def run(context: StageContext) -> dict[str, int]:
    """Fetch the window's bars into staging and its newly public economic values."""
    first, last = fetch_span(context.start, context.end)
    written = {"market_data_staging": 0, "economic_indicators": 0}
    with transaction(context.url) as conn:
        sample.register(conn)
        sources = read_frame(conn, """SELECT source_id, kind, adapter FROM data_sources
                                      WHERE enabled AND kind IN ('market_data', 'economic')
                                      ORDER BY priority DESC, source_id""")
        for source in sources.itertuples():
            adapter = load_adapter(source.adapter)
            if source.kind == "market_data":
                bars = adapter.fetch_bars(first, last)
                bars.insert(0, "source_id", source.source_id)
                bars["as_of"] = assign_as_of(bars["trade_date"], context.start, context.end)
                bars["row_number"] = np.arange(len(bars), dtype=np.int64)
                conn.execute("DELETE FROM market_data_staging WHERE source_id = %s "
                             "AND as_of BETWEEN %s AND %s",
                             (source.source_id, context.start, context.end))
                written["market_data_staging"] += copy_rows(conn, "market_data_staging", bars,
                                                            STAGING_COLUMNS)
            else:
                # Everything public by the window's end; unchanged rows are left alone,
                # so this costs little and also picks up late corrections.
                observations = adapter.fetch_observations()
                keep = observations["realtime_start"] <= pd.Timestamp(last)
                written["economic_indicators"] += upsert_rows(
                    conn, "economic_indicators", observations.loc[keep],
                    ["series_id", "observation_date", "realtime_start"],
                    ["value", "vintage_kind", "source_id"])
    return written


def load_sample_history(settings: Settings, end: date, start: date = HISTORY_START) -> dict:
    """Load the bundled history ``start..end`` through ingest and validate (the same
    write-audit-publish path as the daily run). Returns rows written per stage."""
    from macroquant.pipeline.runner import run_stage

    run_id = f"history__{start.isoformat()}__{end.isoformat()}"
    return {stage: run_stage(stage, start, end, run_id, settings)
            for stage in ("ingest", "validate")}
