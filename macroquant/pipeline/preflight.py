"""Pre-flight: everything a run needs is checked before its first stage writes a row.

``run daily``, ``run backfill``, ``airflow-run`` and the daily DAG's ``resolve_window``
call :func:`preflight` (one function for every face). It reads, never writes, and raises
:class:`PreflightError` with one line per problem found (each names what and where):

- the window: ``start <= end``, inside the exchange calendar, holding at least one
  trading session, and not ending after ``today`` (the caller's clock, injected);
- the trading configuration file and every strategy file (the same loaders the stages
  use, so a file that passes here cannot fail there);
- the database: reachable and migrated;
- the universes: every instrument a strategy trades is known (in ``instruments`` or
  offered by an enabled source that creates instruments, such as the bundled sample);
- the data: for the window, at least one traded instrument has bars stored, or an
  enabled market-data source can fetch them (the bundled sample's coverage is known
  exactly; a vendor is assumed to serve any past date);
- the paper account: no state after the window's end (positions are path-dependent; the
  orders stage would refuse after ingest and validate had already written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import psycopg

from macroquant.brokers.registry import check_broker_config
from macroquant.calendars import previous_session, session_on_or_before, sessions
from macroquant.config.settings import Settings, load_trading_config
from macroquant.db.connection import connect, database_url
from macroquant.errors import ConfigError, MacroQuantError
from macroquant.features.catalog import MAX_FILL_SESSIONS
from macroquant.strategies.loader import LoadedStrategy, load_strategies

# Sources whose bars are fetched by the ingest stage and which create their instruments.
SAMPLE_SOURCE = "sample"


class PreflightError(MacroQuantError):
    """A run was refused before anything was written; ``problems`` lists each reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems) + " (nothing was written)")


@dataclass
class PreflightReport:
    """What the pre-flight checked: the window's sessions and the strategies it loaded."""

    start: date
    end: date
    sessions: list[date]
    strategies: list[LoadedStrategy] = field(default_factory=list)
    traded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_window(start: date, end: date, today: date) -> list[date]:
    """The window's sessions; raises :class:`PreflightError` if the window is reversed,
    outside the calendar, ends after ``today`` or holds no trading session."""
    if end < start:
        raise PreflightError([f"window end {end} is before its start {start}"])
    if end > today:
        raise PreflightError([f"window end {end} is after today ({today}): only past "
                              "sessions can be run"])
    try:
        found = sessions(start, end)
        previous_session(start)
    except (ValueError, KeyError) as exc:  # exchange_calendars' DateOutOfBounds is a ValueError
        raise PreflightError([f"window {start}..{end} is outside the XNYS calendar "
                              f"({str(exc).splitlines()[0]})"]) from None
    if not found:
        raise PreflightError([f"window {start}..{end} holds no XNYS trading session"])
    return found


def daily_session(as_of: date, today: date) -> date:
    """The session a daily run of ``as_of`` processes (``as_of`` or the session before
    it); raises :class:`PreflightError` for a future or out-of-calendar date."""
    if as_of > today:
        raise PreflightError([f"--as-of {as_of} is after today ({today}): only past "
                              "sessions can be run"])
    try:
        return session_on_or_before(as_of)
    except ValueError as exc:
        raise PreflightError([f"--as-of {as_of} is outside the XNYS calendar "
                              f"({str(exc).splitlines()[0]})"]) from None


def preflight(settings: Settings, start: date, end: date, *, today: date,
              url: str | None = None) -> PreflightReport:
    """Check a run of ``start``..``end`` before anything is written (see the module
    docstring); return what was checked or raise :class:`PreflightError`."""
    window = check_window(start, end, today)
    report = PreflightReport(start=start, end=end, sessions=window)
    problems: list[str] = []
    try:   # the broker's options too (their own model: unknown keys are errors)
        check_broker_config(load_trading_config(settings.config_path), settings.config_path)
    except ConfigError as exc:
        problems.append(f"trading configuration: {exc}")
    try:
        report.strategies = load_strategies(settings.strategies_dir)
    except ConfigError as exc:
        problems.append(f"strategies: {exc}")
    if problems:
        raise PreflightError(problems)
    report.traded = sorted({s for item in report.strategies for s in item.config.universe})
    with connect(url or database_url(settings)) as conn:
        problems += _database_problems(conn, report)
    if problems:
        raise PreflightError(problems)
    return report


def _database_problems(conn: psycopg.Connection, report: PreflightReport) -> list[str]:
    try:
        known = {s for (s,) in conn.execute("SELECT symbol FROM instruments")}
        sources = dict(conn.execute(
            "SELECT source_id, adapter FROM data_sources WHERE enabled AND kind = 'market_data'"
        ).fetchall())
    except psycopg.errors.UndefinedTable:
        return ["the database schema is not set up; run `macroquant db migrate`"]
    sample_on = SAMPLE_SOURCE in sources.values() or SAMPLE_SOURCE in sources
    if not known and not sources:
        return ["the database holds no instruments and no enabled data source yet: load "
                "data first (`macroquant ingest sample --end DATE`, `make demo`, or "
                "`macroquant ingest csv FILE`)"]
    problems = []
    offered = known | (_sample_symbols() if sample_on else set())
    for item in report.strategies:
        unknown = [s for s in item.config.universe if s not in offered]
        if unknown:
            problems.append(f"{item.source_file}: field 'universe': unknown instruments "
                            f"{unknown}; known: {sorted(offered)}")
    if problems:
        return problems
    problems += _data_problems(conn, report, sources, sample_on)
    later = conn.execute("""SELECT max(as_of) FROM performance
                            WHERE scope = 'portfolio' AND as_of > %s""",
                         (report.end,)).fetchone()[0]
    if later is not None:
        problems.append(
            f"the paper account already has state up to {later}, after this window's end "
            f"{report.end}: positions are path-dependent, so run a window ending on or after "
            f"{later} (from {report.start}), or one that starts after {later}")
    return problems


def _data_problems(conn: psycopg.Connection, report: PreflightReport,
                   sources: dict[str, str], sample_on: bool) -> list[str]:
    """Every traded instrument needs a bar on or before the window's end, and the window
    needs at least one bar of a traded instrument: stored, or fetchable by ingest."""
    if {s for s, adapter in sources.items() if adapter not in (SAMPLE_SOURCE, "csv")}:
        return []  # a vendor is assumed to serve any past date; ingest reports failures
    # two primary-key probes per traded instrument (no scan of market_data)
    stored = {symbol: (lo, hi) for symbol, lo, hi in conn.execute(
        """SELECT i.symbol,
                  (SELECT min(m.trade_date) FROM market_data m
                   WHERE m.instrument_id = i.instrument_id),
                  (SELECT max(m.trade_date) FROM market_data m
                   WHERE m.instrument_id = i.instrument_id AND m.trade_date <= %s)
           FROM instruments i WHERE i.symbol = ANY(%s)""",
        (report.end, report.traded)) if hi is not None}
    fill_start = report.start
    for _ in range(MAX_FILL_SESSIONS):
        fill_start = previous_session(fill_start)
    # The bundled sample is read (~2 s) only if the stored history leaves a traded
    # instrument without a price in the window; a daily run after the last one does not.
    behind = len(stored) < len(report.traded) or any(
        _goes_stale(hi, fill_start, report.end) for _, hi in stored.values())
    spans = sample_spans() if sample_on and behind else {}
    # the ingest stage fetches the bundled bars of the window only (fetch_span)
    fetch_lo = previous_session(report.start) + timedelta(days=1)
    reachable = dict(stored)
    for symbol, (lo, hi) in spans.items():
        if symbol in report.traded and lo <= report.end and hi >= fetch_lo:
            fetched = (max(lo, fetch_lo), min(hi, report.end))
            old = reachable.get(symbol, fetched)
            reachable[symbol] = (min(old[0], fetched[0]), max(old[1], fetched[1]))
    users = {s: sorted(item.source_file for item in report.strategies
                       if s in item.config.universe) for s in report.traded}
    missing = [s for s in report.traded if s not in reachable]
    if missing:
        starts = ", ".join(f"{s} from {spans[s][0]}" for s in missing if s in spans)
        return [f"no market data on or before {report.end} for {', '.join(missing)}, traded "
                f"by {', '.join(sorted({f for s in missing for f in users[s]}))}"
                + (f" (the bundled history starts: {starts})" if starts else "")
                + "; choose a later window or load the data"]
    # A stored history that stops before the window leaves a hole the run does not fill
    # (ingest fetches the window only): its price would be stale, its features wrong.
    stale = {s: hi for s, (_, hi) in stored.items() if hi < fill_start}
    if stale:
        ends = ", ".join(f"{s} {spans[s][1]}" for s in sorted(stale)
                         if s in spans and spans[s][1] < report.start)
        listed = ", ".join(f"{s} (last bar {hi})" for s, hi in sorted(stale.items()))
        return [f"stale market data: {listed} has no bar within {MAX_FILL_SESSIONS} sessions "
                f"before {report.start}, traded by "
                f"{', '.join(sorted({f for s in stale for f in users[s]}))}"
                + (f" (the bundled history ends: {ends})" if ends else "")
                + "; load the history up to the window first (`macroquant ingest sample --end "
                f"{previous_session(report.start)}`, a vendor or a CSV file), take it out of "
                "the universe, or choose an earlier window"]
    # A price carried over missing sessions is a stale price: say so when the instrument's
    # data ends inside the window (its bundled history ends, or it lacks a price too long).
    report.warnings += [
        f"{s}: the last stored or bundled bar is of {hi}, before the window's end "
        f"{report.end}: its price is carried as a stale price for up to {MAX_FILL_SESSIONS} "
        "sessions, then it is not traded"
        for s, (_, hi) in sorted(reachable.items())
        if hi < report.end and (_goes_stale(hi, fill_start, report.end)
                                or (s in spans and spans[s][1] < report.end))]
    return []


def _goes_stale(last_bar: date, fill_start: date, end: date) -> bool:
    """Whether an instrument whose last bar is ``last_bar`` lacks a price at some session
    up to ``end`` (a price is carried over :data:`MAX_FILL_SESSIONS` sessions)."""
    return last_bar < fill_start or len(sessions(last_bar, end)) > MAX_FILL_SESSIONS + 1


def _sample_symbols() -> set[str]:
    from macroquant.sources.sample.config import INSTRUMENTS

    return {i.symbol for i in INSTRUMENTS}


# First and last bar of each bundled instrument, read from the installed packages once.
SAMPLE_SPANS: dict[str, tuple[date, date]] = {}


def sample_spans() -> dict[str, tuple[date, date]]:
    """First and last bar date of each bundled sample instrument (computed once)."""
    if not SAMPLE_SPANS:
        from macroquant.sources import sample

        bars = sample.fetch_bars(date(1900, 1, 1), date(2100, 1, 1))
        grouped = bars.groupby("symbol")["trade_date"].agg(["min", "max"])
        SAMPLE_SPANS.update({s: (lo.date(), hi.date()) for s, (lo, hi) in grouped.iterrows()})
    return SAMPLE_SPANS


def _sample_span_text() -> str:
    spans = sample_spans()
    return ", ".join(f"{s} {lo}..{hi}" for s, (lo, hi) in sorted(spans.items()))
