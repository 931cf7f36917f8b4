"""The strategy folder is the book: reconcile the ``strategies`` table with the files.

Called by the signals stage (:func:`reconcile_book`, :func:`record_versions`) on every run,
inside its transaction, and by the runner before any stage writes
(:func:`check_book_configuration`). The rules of what is added, changed and retired are
:mod:`macroquant.strategies.book` (pure); here they are applied:

- an enabled file's row is upserted (configuration, hash, file, git commit) and is in the
  book (``enabled``);
- a retired strategy's row keeps its history and gets ``retired_on`` (the run's first
  session) and ``retired_reason``. Under ``strategy_book.retired_positions: wind_down`` it
  leaves the book (``enabled = false``): the portfolio stage sizes only ``enabled``
  strategies, so its targets disappear and the orders stage closes its positions through
  the risk stage and the order gate. Under ``hold`` it stays ``enabled`` and counts as
  paused (``macroquant.auth.strategy_controls.paused_strategies``): the portfolio stage
  carries its last targets (``hold_paused``), and ``macroquant status`` lists it;
- each change is a ``strategy_book_changes`` row, a ``system_logs`` row and a WARNING line
  on the ``macroquant.book`` logger (the CLI and the Airflow task log show it);
- ``strategy_versions`` gets, for each session of the window, the version (file, config
  hash, git commit) of every strategy in the book, and whether it was active, paused or
  a retired one held.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from macroquant.config.settings import Settings, load_trading_config
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.logs import write_system_log
from macroquant.strategies.book import (
    BookChange,
    BookFile,
    StoredStrategy,
    reconcile,
    report_lines,
)
from macroquant.strategies.book_checks import check_stops
from macroquant.strategies.git_state import NOT_IN_GIT, git_states
from macroquant.strategies.loader import LoadedStrategy, load_book

log = logging.getLogger("macroquant.book")

VERSION_COLUMNS = ["as_of", "strategy_id", "config_hash", "source_file", "git_commit",
                   "git_dirty", "state"]


def check_book_configuration(settings: Settings) -> None:
    """Load the strategy folder and the trading configuration and check them together
    (every ``stops`` key names a strategy file or is ``default``); raise
    :class:`~macroquant.errors.ConfigError` naming the file and the key. Writes nothing."""
    book = load_book(settings.strategies_dir)
    check_stops(load_trading_config(settings.config_path), book, settings.config_path,
                settings.strategies_dir)


def book_files(directory: Path, book: list[LoadedStrategy]) -> list[BookFile]:
    """The loaded files with their git state (one batch of git calls for the folder)."""
    states = git_states(directory, [Path(item.source_file) for item in book])
    out = []
    for item in book:
        state = states.get(Path(item.source_file), NOT_IN_GIT)
        out.append(BookFile(item.config.name, item.source_file,
                            item.config.model_dump(mode="json"), item.config_hash,
                            item.config.enabled, state.commit, state.dirty))
    return out


def stored_book(conn: psycopg.Connection) -> list[StoredStrategy]:
    """The strategies the table holds in the book (``enabled`` rows)."""
    rows = conn.execute("""SELECT name, source_file, config, config_hash, git_commit,
                                  retired_on
                           FROM strategies WHERE enabled ORDER BY name""").fetchall()
    return [StoredStrategy(*row) for row in rows]


def _upsert(conn: psycopg.Connection, item: LoadedStrategy, file: BookFile) -> None:
    conn.execute(
        """INSERT INTO strategies (name, strategy_type, config, config_hash, source_file,
                                   enabled, git_commit, git_dirty, retired_on, retired_reason)
           VALUES (%s, %s, %s, %s, %s, true, %s, %s, NULL, '')
           ON CONFLICT (name) DO UPDATE SET strategy_type = EXCLUDED.strategy_type,
               config = EXCLUDED.config, config_hash = EXCLUDED.config_hash,
               source_file = EXCLUDED.source_file, enabled = true,
               git_commit = EXCLUDED.git_commit, git_dirty = EXCLUDED.git_dirty,
               retired_on = NULL, retired_reason = ''
           WHERE strategies.config_hash IS DISTINCT FROM EXCLUDED.config_hash
              OR strategies.source_file IS DISTINCT FROM EXCLUDED.source_file
              OR NOT strategies.enabled OR strategies.retired_on IS NOT NULL
              OR strategies.git_commit IS DISTINCT FROM EXCLUDED.git_commit
              OR strategies.git_dirty IS DISTINCT FROM EXCLUDED.git_dirty""",
        (item.config.name, item.config.type, Jsonb(file.config), item.config_hash,
         item.source_file, file.git_commit, file.git_dirty))


def _retire(conn: psycopg.Connection, change: BookChange, context: StageContext,
            hold: bool) -> None:
    conn.execute("""UPDATE strategies SET enabled = %s, retired_reason = %s,
                           retired_on = COALESCE(retired_on, %s)
                    WHERE name = %s""",
                 (hold, change.summary[:1000], context.start, change.name))


def reconcile_book(conn: psycopg.Connection, directory: Path, book: list[LoadedStrategy],
                   context: StageContext) -> list[BookChange]:
    """Make the ``strategies`` table's book equal to the files ``book`` (every file of the
    folder, enabled or not); record and log each change; return them."""
    files = book_files(directory, book)
    policy = context.trading.strategy_book.retired_positions
    changes = reconcile(files, stored_book(conn), policy)
    by_name = {file.name: file for file in files}
    for item in book:
        if item.config.enabled:
            _upsert(conn, item, by_name[item.config.name])
    for change in changes:
        if change.change == "retired":
            _retire(conn, change, context, hold=policy == "hold")
        conn.execute(
            """INSERT INTO strategy_book_changes (run_id, window_start, window_end,
                   strategy_name, change, source_file, previous_source_file, git_commit,
                   summary, details, recorded_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())""",
            (context.run_id, context.start, context.end, change.name, change.change,
             change.source_file, change.previous_source_file, change.git_commit,
             change.summary, Jsonb(change.details)))
        write_system_log(conn, "WARNING" if change.change == "retired" else "INFO",
                         "macroquant.book", f"{change.change} {change.name}: {change.summary}",
                         context.run_id, {"strategy": change.name, "change": change.change})
    for line in report_lines(changes, context.start, context.end):
        log.warning(line)
    return changes


def record_versions(conn: psycopg.Connection, context: StageContext) -> int:
    """Rewrite ``strategy_versions`` for the window: one row per session and strategy of
    the book, with its state (active, paused by an operator, or retired and held)."""
    book = read_frame(conn, """SELECT strategy_id, name, config_hash, source_file,
                                      git_commit, git_dirty, retired_on
                               FROM strategies WHERE enabled ORDER BY strategy_id""")
    operator_paused = {r[0] for r in conn.execute(
        "SELECT strategy_name FROM strategy_controls WHERE paused").fetchall()}
    book["state"] = [
        "retired_held" if retired is not None and not pd.isna(retired)
        else "paused" if name in operator_paused else "active"
        for name, retired in zip(book["name"], book["retired_on"], strict=True)]
    conn.execute("DELETE FROM strategy_versions WHERE as_of BETWEEN %s AND %s",
                 (context.start, context.end))
    if book.empty or not context.sessions:
        return 0
    rows = pd.concat([book.assign(as_of=day) for day in context.sessions], ignore_index=True)
    return copy_rows(conn, "strategy_versions", rows, VERSION_COLUMNS)


def held_retired(conn: psycopg.Connection) -> list[tuple[str, object, str]]:
    """(name, retired_on, reason) of the retired strategies whose positions are held."""
    return [tuple(r) for r in conn.execute(
        """SELECT name, retired_on, retired_reason FROM strategies
           WHERE enabled AND retired_on IS NOT NULL ORDER BY name""").fetchall()]


def recent_changes(conn: psycopg.Connection, limit: int = 50) -> pd.DataFrame:
    """The latest book changes, newest first (columns: window_start, window_end, run_id,
    change, strategy_name, summary, source_file, git_commit)."""
    return read_frame(conn, """SELECT window_start, window_end, run_id, change,
                                      strategy_name, summary, source_file,
                                      left(git_commit, 7) AS git_commit
                               FROM strategy_book_changes
                               ORDER BY change_id DESC LIMIT %s""", (limit,))

