"""Stage 4 — signals: run every enabled strategy over the window.

Input: ``data_checks`` (gate: every session of the window validated),
``market_data`` (history up to the window's end), ``economic_indicators`` (point-in-time,
for macro rules), ``quarantine`` (the per-instrument anomaly gate: an open quarantined bar stops its
instrument, not the book; a WARNING row names them and the strategies trading them),
``instruments``, the
strategy YAML files.
Output: ``strategies`` (reconciled with the folder: added, changed, retired; see
:mod:`macroquant.pipeline.book`), ``strategy_book_changes`` (one row per change; none when
nothing changed), ``strategy_versions`` (the version of each strategy of the book on each
session), ``signals`` rows ``(as_of, strategy_id, instrument_id, strength, direction,
confidence)``; an ERROR row in ``system_logs`` for each strategy that raised; an INFO row
naming the strategies skipped because they are paused.
Idempotency key: ``as_of`` in the window (signals and versions replaced, except a paused
strategy's signals); a rerun with an unchanged folder records no book change.

**Paused strategies** (``strategy_controls``, set through the API; see
:func:`macroquant.auth.strategy_controls.paused_strategies`) are registered but not run:
they get no new signal row for the window, and the rows they already have are kept (a
pause never deletes what was written). The portfolio stage then holds their last targets
(same quantities) on those sessions (:func:`macroquant.pipeline.portfolio.hold_paused`): a
paused strategy's positions are held, not flattened (see docs/strategies.md).

Features are computed here once for the union of what the strategies ask for (the same
:func:`compute_features` the features stage stores), each over only the history it needs
(:func:`macroquant.strategies.engine.run_window`): rules that are functions of the day's
features run on the window's sessions, while stateful rules (hysteresis, walk-forward
models) see their whole history up to ``end`` whatever the window. A strategy that raises
is skipped for the run: it writes no signal row, so the portfolio stage sizes nothing for
it and no order follows; the others continue. Confidence is 1.0 for deterministic rules; model-based rules report their own.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg

from macroquant.auth.strategy_controls import paused_strategies
from macroquant.calendars import sessions as calendar_sessions
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.db.connection import transaction
from macroquant.economics.point_in_time import read_panel_as_of
from macroquant.errors import ConfigError, DataQualityError
from macroquant.features.catalog import BAR_FIELDS, MAX_FILL_SESSIONS, needs_bars
from macroquant.pipeline.book import reconcile_book, record_versions
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.logs import write_system_log
from macroquant.strategies.book import BookChange
from macroquant.strategies.engine import RunResult, StrategyJob, run_window
from macroquant.strategies.loader import LoadedStrategy, load_book

# Bar datasets whose gate checks must pass: the validate stage's and the CSV loader's.
GATE_DATASETS: tuple[str, ...] = ("market_data", "csv_file")


def check_data_gate(conn: psycopg.Connection, context: StageContext) -> list[date]:
    """Raise unless every session of the window was validated (by the validate stage or a
    CSV file loaded into it); return the sessions where a check failed.

    A failed check no longer stops the whole window: the bars it quarantined stop only
    their instruments (:func:`load_flagged`, the anomaly gate), and the run says which."""
    checks = read_frame(conn, """SELECT as_of, bool_and(passed) AS passed FROM data_checks
                                 WHERE dataset = ANY(%s) AND as_of BETWEEN %s AND %s
                                 GROUP BY as_of""",
                        (list(GATE_DATASETS), context.start, context.end))
    validated = dict(zip(checks["as_of"], checks["passed"], strict=True))
    missing = [d for d in context.sessions if d not in validated]
    if missing:
        raise DataQualityError(
            f"signals: no validation recorded for {', '.join(map(str, missing[:10]))}: no "
            "signal is produced for the window. Run the ingest and validate stages first.")
    return [d for d in context.sessions if validated.get(d) is False]


def register_strategies(conn: psycopg.Connection, book: list[LoadedStrategy],
                        context: StageContext) -> tuple[dict[str, int], list[BookChange]]:
    """Reconcile the ``strategies`` table with the strategy folder (``book``: every file,
    enabled or not; :func:`macroquant.pipeline.book.reconcile_book`); return name →
    strategy_id and the changes (added, changed, retired)."""
    changes = reconcile_book(conn, context.settings.strategies_dir, book, context)
    rows = conn.execute("SELECT name, strategy_id FROM strategies").fetchall()
    return dict(rows), changes


def universe_ids(item: LoadedStrategy, instrument_ids: dict[str, int]) -> list[int]:
    """instrument_ids of a strategy's universe; an unknown symbol is a config error."""
    unknown = [s for s in item.config.universe if s not in instrument_ids]
    if unknown:
        raise ConfigError(item.source_file, "universe",
                          f"unknown instruments {unknown}; known: {sorted(instrument_ids)}")
    return [instrument_ids[s] for s in item.config.universe]


def load_market_panels(
    conn: psycopg.Connection, end: date, with_bars: bool
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame] | None]:
    """Raw close, back-adjusted close and (``with_bars``) back-adjusted open/high/low, wide
    (trading sessions × instrument_id) up to ``end``. Open/high/low are scaled by the
    day's ``adj_close / close``."""
    bars = read_frame(conn, """SELECT instrument_id, trade_date, open, high, low, close,
                                      COALESCE(adj_close, close) AS adjusted
                               FROM market_data WHERE trade_date <= %s""", (end,))
    bars["trade_date"] = pd.to_datetime(bars["trade_date"])
    if bars.empty:
        empty = pd.DataFrame(dtype=float)
        return empty, empty, ({f: empty for f in BAR_FIELDS} if with_bars else None)
    index = pd.DatetimeIndex(calendar_sessions(bars["trade_date"].min().date(), end))

    def wide(values: pd.Series) -> pd.DataFrame:
        frame = pd.DataFrame({"d": bars["trade_date"], "i": bars["instrument_id"], "v": values})
        return frame.pivot(index="d", columns="i", values="v").astype(float).reindex(index)

    raw, adjusted = wide(bars["close"]), wide(bars["adjusted"])
    adjusted_bars = None
    if with_bars:
        factor = bars["adjusted"].astype(float) / bars["close"].astype(float)
        adjusted_bars = {f: wide(bars[f].astype(float) * factor)
                         .ffill(limit=MAX_FILL_SESSIONS) for f in BAR_FIELDS}
    return raw, adjusted, adjusted_bars


def load_macro_panel(conn: psycopg.Connection, names: set[str], index: pd.DatetimeIndex,
                     raw_close: pd.DataFrame, instrument_ids: dict[str, int],
                     asked_by: dict[str, str]) -> pd.DataFrame:
    """Point-in-time macro inputs (dates × name): an economic series as public on each
    date, or a market instrument's close (e.g. ``VIX``). An unknown name is a config error
    naming the strategy file that asked for it."""
    if not names:
        return pd.DataFrame(index=index)
    series = {row[0] for row in conn.execute(
        "SELECT series_id FROM economic_series WHERE series_id = ANY(%s)", (sorted(names),))}
    unknown = sorted(names - series - set(instrument_ids))
    if unknown:
        raise ConfigError(asked_by[unknown[0]], "parameters",
                          f"macro input '{unknown[0]}' is neither an economic series nor an "
                          "instrument (see `macroquant econ list` / the instruments table)")
    columns: dict[str, pd.Series] = {}
    if series:
        panel = read_panel_as_of(conn, sorted(series), index)
        columns.update({name: panel[name].reindex(index) for name in series})
    for name in sorted(names - series):
        close = raw_close.get(instrument_ids[name])
        columns[name] = (close.ffill(limit=MAX_FILL_SESSIONS) if close is not None
                         else pd.Series(float("nan"), index=index))
    return pd.DataFrame(columns, index=index)


def load_flagged(conn: psycopg.Connection, context: StageContext,
                 instrument_ids: dict[str, int]) -> pd.DataFrame:
    """True per (session, instrument_id) that has an open (not accepted, not dropped)
    quarantined market-data row for the window (the anomaly gate)."""
    rows = read_frame(conn, """SELECT DISTINCT as_of, symbol FROM quarantine
                               WHERE dataset = 'market_data' AND as_of BETWEEN %s AND %s
                                 AND symbol IS NOT NULL AND status = 'open'""",
                      (context.start, context.end))
    rows = rows[rows["symbol"].isin(instrument_ids)]
    if rows.empty:
        return pd.DataFrame(dtype=bool)
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    rows["instrument_id"] = rows["symbol"].map(instrument_ids)
    rows["flag"] = True
    return rows.pivot_table(index="as_of", columns="instrument_id", values="flag",
                            aggfunc="any").astype(bool)


SignalPanels = tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame] | None]


def signal_panels(conn: psycopg.Connection, end: date,
                  strategies: list[LoadedStrategy]) -> SignalPanels:
    """The market panels ``strategies`` read up to ``end`` (:func:`load_market_panels`,
    with open/high/low only when a bar or candlestick feature is asked for)."""
    needed = set().union(*(s.strategy.required_features() for s in strategies))
    return load_market_panels(conn, end, needs_bars(needed))


def generate_signals(conn: psycopg.Connection, context: StageContext,
                     strategies: list[LoadedStrategy], panels: SignalPanels | None = None,
                     ) -> tuple[RunResult, dict[str, int], pd.DataFrame]:
    """Every strategy's signals for the window (read-only): the market panels (``panels``,
    else :func:`signal_panels`), the point-in-time macro panel and the anomaly gate from
    the database, then the core's :func:`~macroquant.strategies.engine.run_window`. Returns
    the result, symbol → instrument_id and the anomaly gate's flags. The book backtest
    calls this too."""
    meta = read_frame(conn, "SELECT instrument_id, symbol, asset_class FROM instruments")
    instrument_ids = dict(zip(meta["symbol"], meta["instrument_id"], strict=True))
    asset_classes = pd.Series(meta["asset_class"].to_numpy(), index=meta["instrument_id"])
    jobs = [StrategyJob(name=item.config.name, strategy=item.strategy,
                        columns=universe_ids(item, instrument_ids),
                        filters=item.config.filters, long_only=item.config.long_only)
            for item in strategies]
    raw, adjusted, bars = panels or signal_panels(conn, context.end, strategies)
    asked_by = {name: item.source_file for item in strategies
                for name in item.strategy.required_macro()}
    macro = load_macro_panel(conn, set(asked_by), raw.index, raw, instrument_ids, asked_by)
    window = pd.DatetimeIndex(pd.to_datetime(context.sessions))
    flagged = load_flagged(conn, context, instrument_ids)
    result = run_window(jobs, raw, adjusted, window, bars=bars, macro=macro,
                        asset_classes=asset_classes, flagged=flagged)
    return result, instrument_ids, flagged


def report_quarantined(conn: psycopg.Connection, context: StageContext,
                       flagged: pd.DataFrame, strategies: list[LoadedStrategy],
                       instrument_ids: dict[str, int], failed_sessions: list[date]) -> int:
    """Log (WARNING) which instruments open quarantine rows stop in the window and which
    strategies trade them; return the number of instruments stopped."""
    if flagged.empty and not failed_sessions:
        return 0
    symbols = {i: s for s, i in instrument_ids.items()}
    stopped = sorted(symbols[i] for i in flagged.columns[flagged.any()]) if not flagged.empty \
        else []
    touched = sorted(item.config.name for item in strategies
                     if (set(item.config.universe) | item.strategy.required_macro())
                     & set(stopped))
    if stopped:
        message = (f"quarantined bars stop {', '.join(stopped)} on "
                   f"{', '.join(str(d.date()) for d in flagged.index[flagged.any(axis=1)][:10])}"
                   f": no signal for them (strategies trading them: "
                   f"{', '.join(touched) or 'none'}); the rest of the book trades. See "
                   "`macroquant quarantine list`.")
    else:
        message = (f"data checks failed on {', '.join(map(str, failed_sessions[:10]))}, but "
                   "no open quarantined bar is of a known instrument: every strategy runs")
    write_system_log(conn, "WARNING", "macroquant.signals", message, context.run_id,
                     {"instruments": stopped, "strategies": touched,
                      "start": str(context.start), "end": str(context.end)})
    return len(stopped)


def run(context: StageContext) -> dict[str, int]:
    """Generate and store every enabled strategy's signals for the window."""
    book = load_book(context.settings.strategies_dir)
    strategies = [item for item in book if item.config.enabled]
    with transaction(context.url) as conn:
        failed_sessions = check_data_gate(conn, context)
        strategy_ids, changes = register_strategies(conn, book, context)
        paused = paused_strategies(conn)
        skipped = sorted(item.config.name for item in strategies if item.config.name in paused)
        if skipped:
            write_system_log(conn, "INFO", "macroquant.signals",
                             f"paused strategies get no signal for {context.start}.."
                             f"{context.end}: {', '.join(skipped)}", context.run_id,
                             {"paused": skipped, "start": str(context.start),
                              "end": str(context.end)})
        strategies = [item for item in strategies if item.config.name not in paused]
        result, instrument_ids, flagged = generate_signals(conn, context, strategies)
        blocked = report_quarantined(conn, context, flagged, strategies, instrument_ids,
                                     failed_sessions)
        for name, error in sorted(result.errors.items()):
            write_system_log(conn, "ERROR", "macroquant.signals",
                             f"strategy {name} raised and was skipped for this run (no "
                             f"signal, no order): {error}", context.run_id,
                             {"strategy": name, "start": str(context.start),
                              "end": str(context.end)})
        frames = []
        for name, rows in result.signals.items():
            rows = rows.rename(columns={"instrument": "instrument_id"})
            rows["strategy_id"] = strategy_ids[name]
            frames.append(rows)
        columns = ["as_of", "strategy_id", "instrument_id", "strength", "direction",
                   "confidence"]
        signals = (pd.concat(frames, ignore_index=True) if frames
                   else pd.DataFrame(columns=columns))
        signals = signals.sort_values(["as_of", "strategy_id", "instrument_id"])
        kept = [strategy_ids[name] for name in skipped]
        conn.execute("DELETE FROM signals WHERE as_of BETWEEN %s AND %s "
                     "AND strategy_id <> ALL(%s)", (context.start, context.end, kept))
        written = copy_rows(conn, "signals", signals, columns)
        record_versions(conn, context)
    counts = {f"strategies_{kind}": sum(c.change == kind for c in changes)
              for kind in ("added", "changed", "retired")}
    return {"signals": written, "strategies": len(strategies) - len(result.errors),
            "failed_strategies": len(result.errors), "paused_strategies": len(skipped),
            "quarantined_instruments": blocked, **counts}
