"""Stage 1 — ingest: fetch daily bars, economic observations and alternative data items from
every enabled source.

Input: the sources named by enabled ``data_sources`` rows (adapters in macroquant.sources),
and, for incremental sources, each instrument's last bar in ``market_data``.
Output: ``market_data_staging`` (bars, published later by validate), ``economic_indicators``
(point-in-time rows public by the window's end; a revision is a new vintage row) and
``alternative_data`` (items published in the window, with their sentiment score); one
``system_logs`` row per failed vendor request (see macroquant.sources.fetch).
Idempotency key: (source_id, as_of) for staging — the window's rows are replaced;
(series_id, observation_date, realtime_start) for economic rows and (source_id, item_id)
for alternative items — upserted.

Before fetching, the stage runs ``register(conn)`` of every enabled source's adapter
(idempotent; a user's ``enabled``, limits and ``config`` are kept), so enabling a source is
enough: e.g. FRED's ``economic_series`` rows exist before its first vintages arrive.

A window ``start..end`` fetches bars dated after the session before ``start`` up to
``end``, so a holiday of one market that is a weekday elsewhere is not skipped.

**Incremental sources** (``data_sources.config`` ``{"incremental": true}``, the vendor
adapters' default) fetch per instrument they own (``instruments.source_id``), from the day
after its last bar stored *before* the window, less ``overlap_days`` (re-fetched to catch a
vendor's corrections), but never after the window's first day nor more than
``max_catchup_days`` before it. Only bars before the window count, so rerunning a window
asks the same ranges and rewrites the same rows. A day missed by an earlier failure is
caught up by the next run (its bars are staged under the window's first ``as_of``).
Instruments with an active signal (non-zero direction or target at the latest date on or
before the window's end) are fetched first, so a tight rate limit serves them before the
rest. Other sources (the bundled ``sample``) fetch the whole window in one call, as before.

Every hook is called through fetch control (rate limit, retries, the row's ``config`` and
key). Vendor failures do not stop the stage: each is retried, sent to the fallback source
when one is configured (bars), and logged; the stage fails only when every market data
source failed. An economic or alternative source that fails leaves its tables as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

from macroquant.calendars import previous_session, sessions_on_or_after
from macroquant.config.settings import Settings
from macroquant.db.bulk import copy_rows, read_frame, upsert_rows
from macroquant.db.connection import transaction
from macroquant.errors import SourceError
from macroquant.pipeline.context import StageContext
from macroquant.sources import load_adapter, sample
from macroquant.sources.fetch import (
    VENDOR_ERRORS,
    BarRequest,
    FetchController,
    FetchOptions,
    FetchOutcome,
    SourceSpec,
    load_source_specs,
    write_outcomes,
)

STAGING_COLUMNS = ["source_id", "as_of", "row_number", "symbol", "trade_date", "open", "high",
                   "low", "close", "adj_close", "volume"]
# The data_sources kinds the stage fetches (brokers are not data sources of the pipeline).
KINDS = ("market_data", "economic", "alternative")
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
    as_of = sessions_on_or_after(pd.to_datetime(trade_dates))
    return as_of.fillna(pd.Timestamp(end)).clip(pd.Timestamp(start), pd.Timestamp(end))


def fetch_options(spec: SourceSpec) -> FetchOptions:
    """The fetch-control keys of a source's config (its adapter's own keys are ignored)."""
    return FetchOptions.model_validate(
        {k: v for k, v in spec.config.items() if k in FetchOptions.model_fields})


def incremental_starts(last_bars: pd.Series, first: date, options: FetchOptions) -> pd.Series:
    """Per instrument, the first date to fetch: the day after its last bar before the window
    less ``overlap_days``, at most ``first``, at least ``first - max_catchup_days``; an
    instrument with no earlier bar starts at ``first``. Pure and vectorised."""
    floor = pd.Timestamp(first - timedelta(days=options.max_catchup_days))
    wanted = pd.to_datetime(last_bars) + pd.Timedelta(days=1 - options.overlap_days)
    return wanted.fillna(pd.Timestamp(first)).clip(floor, pd.Timestamp(first))


def owned_instruments(conn: psycopg.Connection, source_id: str, first: date,
                      end: date) -> pd.DataFrame:
    """Active instruments of ``source_id``: symbol, vendor symbol, last bar before ``first``
    and whether a strategy holds a signal or target on it, active ones first."""
    return read_frame(conn, """
        WITH latest_signal AS (SELECT max(as_of) AS as_of FROM signals WHERE as_of <= %s),
             latest_target AS (SELECT max(as_of) AS as_of FROM targets WHERE as_of <= %s),
             active AS (
                 SELECT s.instrument_id FROM signals s JOIN latest_signal l USING (as_of)
                 WHERE s.direction <> 0
                 UNION
                 SELECT t.instrument_id FROM targets t JOIN latest_target l USING (as_of)
                 WHERE t.target_quantity <> 0)
        SELECT i.symbol, i.vendor_symbol,
               (SELECT max(m.trade_date) FROM market_data m
                WHERE m.instrument_id = i.instrument_id AND m.trade_date < %s) AS last_bar,
               i.instrument_id IN (SELECT instrument_id FROM active) AS has_signal
        FROM instruments i WHERE i.source_id = %s AND i.active
        ORDER BY has_signal DESC, i.symbol""", (end, end, first, source_id))


def plan_bar_requests(conn: psycopg.Connection, spec: SourceSpec, first: date, last: date
                      ) -> tuple[list[BarRequest], dict[str, str]]:
    """The requests one market data source gets for a window, and its vendor symbols."""
    options = fetch_options(spec)
    if not options.incremental:
        return [BarRequest(first, last, None)], {}
    owned = owned_instruments(conn, spec.source_id, first, last)
    starts = incremental_starts(owned["last_bar"], first, options)
    requests = [BarRequest(start.date(), last, (symbol,))
                for symbol, start in zip(owned["symbol"], starts, strict=True)]
    return requests, dict(zip(owned["symbol"], owned["vendor_symbol"], strict=True))


def stored_secrets(conn: psycopg.Connection, specs: Sequence[SourceSpec]) -> dict[str, str]:
    """Values of the secrets the enabled sources name (read now, while connected)."""
    from macroquant.security.secrets import get_secret

    names = sorted({s.credentials_ref for s in specs if s.credentials_ref})
    stored = {row[0] for row in conn.execute(
        "SELECT name FROM secrets WHERE name = ANY(%s)", (names,)).fetchall()}
    return {name: get_secret(conn, name) for name in names if name in stored}


def _stage_bars(conn: psycopg.Connection, bars: pd.DataFrame, served: set[str],
                context: StageContext) -> int:
    written = 0
    for source_id in sorted(served):
        conn.execute("DELETE FROM market_data_staging WHERE source_id = %s "
                     "AND as_of BETWEEN %s AND %s", (source_id, context.start, context.end))
        rows = bars.loc[bars["source_id"] == source_id].reset_index(drop=True)
        rows["as_of"] = assign_as_of(rows["trade_date"], context.start, context.end)
        rows["row_number"] = np.arange(len(rows), dtype=np.int64)
        written += copy_rows(conn, "market_data_staging", rows, STAGING_COLUMNS)
    return written


def register_enabled_adapters(conn: psycopg.Connection) -> list[FetchOutcome]:
    """Run ``register(conn)`` of the bundled ``sample`` adapter and of every enabled
    source's adapter (once per adapter), so that enabling a source is enough: an economic
    adapter's ``economic_series`` rows (the foreign key of its observations) exist before
    its first fetch. Registration is idempotent and leaves a user's ``enabled``, limits and
    ``config`` alone. An adapter whose registration fails (unknown adapter, invalid
    ``config``) gets one failed outcome per enabled row; the others are registered."""
    sample.register(conn)
    enabled = [s for s in load_source_specs(conn).values() if s.enabled and s.kind in KINDS]
    failures: list[FetchOutcome] = []
    for adapter in sorted({s.adapter for s in enabled} - {"sample"}):
        try:
            with conn.transaction():
                load_adapter(adapter).register(conn)
        except (*VENDOR_ERRORS, KeyError) as error:
            for spec in (s for s in enabled if s.adapter == adapter):
                outcome = FetchOutcome(spec.source_id, "register", None)
                outcome.fail(error)
                failures.append(outcome)
    return failures


def fetch_observations(controller: FetchController, specs: Sequence[SourceSpec],
                       start: date | None, end: date | None
                       ) -> tuple[list[pd.DataFrame], list[FetchOutcome]]:
    """Every economic source's observations public by ``end`` (``realtime_start <= end``;
    all when None), each through fetch control; a failed source gives an outcome and no
    rows. ``start`` is passed to the hook, whose meaning it is (the stage passes None)."""
    frames, outcomes = [], []
    for spec in specs:
        outcome = FetchOutcome(spec.source_id, "fetch_observations", None)
        try:
            frame = controller.call(spec.source_id, "fetch_observations", start, end,
                                    outcome=outcome)
            if end is not None:
                frame = frame.loc[frame["realtime_start"] <= pd.Timestamp(end)]
            frames.append(frame)
            outcome.rows = len(frame)
        except VENDOR_ERRORS as error:
            outcome.fail(error)
        outcomes.append(outcome)
    return frames, outcomes


def fetch_alternative(controller: FetchController, specs: Sequence[SourceSpec],
                      first: date | None, last: date | None
                      ) -> tuple[list[tuple[str, pd.DataFrame]], list[FetchOutcome]]:
    """Items published ``first..last`` (either bound optional) from the enabled alternative sources, as
    ``(adapter, items)`` pairs for the adapter's ``store_items``.

    One adapter may serve several rows (``alternative``: ``news_rss`` and ``reddit``) and
    its ``fetch_items`` returns the items of all of them, each tagged with its
    ``source_id``. So the hook is called once per adapter, under its first enabled row by
    priority (whose ``config`` and rate limit apply), and only the items of enabled rows are
    kept. A failure is an outcome for every enabled row of that adapter."""
    batches, outcomes = [], []
    for adapter in dict.fromkeys(s.adapter for s in specs):
        rows = [s for s in specs if s.adapter == adapter]
        outcome = FetchOutcome(rows[0].source_id, "fetch_items", None)
        try:
            items = controller.call(rows[0].source_id, "fetch_items", first, last,
                                    outcome=outcome)
        except VENDOR_ERRORS as error:
            outcome.fail(error)
            outcomes.append(outcome)
            for other in rows[1:]:
                copy = FetchOutcome(other.source_id, "fetch_items", None, outcome.attempts)
                copy.fail(error)
                outcomes.append(copy)
            continue
        items = items.loc[items["source_id"].isin([s.source_id for s in rows])]
        outcome.rows = len(items)
        outcomes.append(outcome)
        batches.append((adapter, items.reset_index(drop=True)))
    return batches, outcomes


def run(context: StageContext, controller: FetchController | None = None) -> dict[str, int]:
    """Fetch the window's bars into staging, its newly public economic values and its
    alternative data items.

    ``controller`` is for tests (a fake clock, fake adapters); by default one is built from
    the ``data_sources`` rows."""
    first, last = fetch_span(context.start, context.end)
    with transaction(context.url) as conn:
        outcomes = register_enabled_adapters(conn)
        broken = {o.source_id for o in outcomes}
        specs = load_source_specs(conn)
        enabled = [s for s in specs.values()
                   if s.enabled and s.kind in KINDS and s.source_id not in broken]
        plans = {s.source_id: plan_bar_requests(conn, s, first, last)
                 for s in enabled if s.kind == "market_data"}
        secrets = stored_secrets(conn, enabled)
    controller = controller or FetchController(specs, lookup_secret=secrets.get)

    frames, served = [], set()
    for source_id, (requests, vendor_symbols) in plans.items():
        result = controller.fetch_bars(source_id, requests, vendor_symbols)
        outcomes += result.outcomes
        frames.append(result.bars)
        served |= {o.source_id for o in result.outcomes if o.ok}
    # Every vintage public by the window's end, whatever its observation date: unchanged
    # rows are left alone by the upsert, and late corrections are picked up.
    observations, economic_outcomes = fetch_observations(
        controller, [s for s in enabled if s.kind == "economic"], None, last)
    items, alternative_outcomes = fetch_alternative(
        controller, [s for s in enabled if s.kind == "alternative"], first, last)
    outcomes += economic_outcomes + alternative_outcomes
    write_outcomes(context.url, outcomes, context.run_id)
    if plans and not served:
        raise SourceError(", ".join(plans), "every market data source failed for the window "
                          f"{context.start}..{context.end}; see system_logs",
                          transient=True)

    written = {"market_data_staging": 0, "economic_indicators": 0, "alternative_data": 0}
    with transaction(context.url) as conn:
        bars = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if served:
            written["market_data_staging"] = _stage_bars(conn, bars, served, context)
        for frame in observations:
            written["economic_indicators"] += upsert_rows(
                conn, "economic_indicators", frame,
                ["series_id", "observation_date", "realtime_start"],
                ["value", "vintage_kind", "source_id"])
        for adapter, batch in items:
            if not batch.empty:
                written["alternative_data"] += load_adapter(adapter).store_items(conn, batch)
    return written


def load_sample_history(settings: Settings, end: date, start: date = HISTORY_START) -> dict:
    """Load the bundled history ``start..end`` through ingest and validate (the same
    write-audit-publish path as the daily run). Returns rows written per stage."""
    from macroquant.pipeline.runner import run_stage

    run_id = f"history__{start.isoformat()}__{end.isoformat()}"
    return {stage: run_stage(stage, start, end, run_id, settings)
            for stage in ("ingest", "validate")}
